package main

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
)

// summaryRow is one figure, median over the repeats, per app.
type summaryRow struct {
	Metric string    `json:"metric"`
	Apps   []string  `json:"apps"`
	Median []float64 `json:"median"`
	Min    []float64 `json:"min"`
	Max    []float64 `json:"max"`
	// Ratio is medchain's median over kvstore's, when both ran.
	Ratio float64 `json:"ratio_medchain_over_kvstore,omitempty"`
}

// disturbed is how much CPU other processes may take during a phase before
// the report flags it: the validators and the driver should have the
// machine to themselves.
const disturbed = 0.25

func summarize(cfg *config, apps []string, runs []*appResult) []summaryRow {
	type metric struct {
		name  string
		phase string
		get   func(*phaseResult) float64
	}
	var ms []metric
	for _, spec := range cfg.phases() {
		if !spec.paced() {
			ms = append(ms, metric{"throughput (tx/s)", spec.name, func(p *phaseResult) float64 { return p.TPS }})
			continue
		}
		ms = append(ms,
			metric{fmt.Sprintf("submit → commit p50 at %g tx/s (ms)", spec.rate), spec.name, func(p *phaseResult) float64 { return p.LatP50Ms }},
			metric{fmt.Sprintf("submit → commit p90 at %g tx/s (ms)", spec.rate), spec.name, func(p *phaseResult) float64 { return p.LatP90Ms }},
			metric{fmt.Sprintf("submit → commit p99 at %g tx/s (ms)", spec.rate), spec.name, func(p *phaseResult) float64 { return p.LatP99Ms }},
		)
	}
	var out []summaryRow
	for _, m := range ms {
		row := summaryRow{Metric: m.name, Apps: apps}
		for _, app := range apps {
			var v []float64
			for _, r := range runs {
				if p := r.phase(m.phase); r.App == app && p != nil {
					v = append(v, m.get(p))
				}
			}
			med, lo, hi := median(v)
			row.Median, row.Min, row.Max = append(row.Median, med), append(row.Min, lo), append(row.Max, hi)
		}
		if i, j := slices.Index(apps, appMedchain), slices.Index(apps, appKVStore); i >= 0 && j >= 0 && row.Median[j] > 0 {
			row.Ratio = row.Median[i] / row.Median[j]
		}
		out = append(out, row)
	}
	return out
}

func median(v []float64) (med, lo, hi float64) {
	if len(v) == 0 {
		return 0, 0, 0
	}
	s := slices.Clone(v)
	sort.Float64s(s)
	n := len(s)
	if n%2 == 1 {
		med = s[n/2]
	} else {
		med = (s[n/2-1] + s[n/2]) / 2
	}
	return med, s[0], s[n-1]
}

// printReport writes the results as Markdown, ready for docs/BENCHMARKS.md.
func printReport(out io.Writer, r *report) {
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	p("")
	p("## Chain benchmark, %s", r.Date)
	p("")
	p("- Machine: %s, %d CPUs, %.1f GiB RAM; %s; %s; %s", r.Machine.CPU, r.Machine.CPUs, r.Machine.MemGiB, r.Machine.OS, r.Machine.Kernel, r.Machine.GoVersion)
	p("- Command: `%s`", r.Command)
	if r.Code != "" {
		p("- Code: %s", r.Code)
	}
	p("- Localnet: %d validators on 127.0.0.1, each its own OS process, fresh for every app run; CometBFT settings of node.TuneLocal (timeout_commit 100 ms); validators log at error level", r.Params.Validators)
	p("- Load: %d accounts (lanes); lane i sends to validator i mod %d, in nonce order; mean tx size %s bytes (medchain memo.post with %d-byte text; kvstore key=value padded to the same sizes)",
		r.Params.Accounts, r.Params.Validators, txSizes(r), r.Params.MemoBytes)
	if r.Params.Txs > 0 {
		p("- Throughput phase: %d txs per app run, %d submitters (broadcast_tx_sync calls in flight), at most %s txs submitted but not committed", r.Params.Txs, r.Params.Concurrency, pendingText(r.Params.MaxPending))
	}
	if len(r.Params.Rates) > 0 {
		p("- Latency phases: %g s each at a steady offered load of %s tx/s (open loop)", r.Params.PacedSeconds, joinF(r.Params.Rates, ", "))
	}
	p("- Commit = validator 0's app has committed the block (abci_info polled every %s); latency = that moment − start of the tx's broadcast_tx_sync", r.Params.Poll)
	p("- Repeats: %d per app, order alternating (%s first in odd repeats); figures below are medians (min–max)", r.Params.Repeat, r.Params.Apps[0])
	p("- Signing (not timed): %.1f µs per medchain tx on one core", r.SignUsTx)
	p("")

	// Summary.
	if len(r.Summary) > 0 {
		apps := r.Summary[0].Apps
		ratio := slices.Contains(apps, appMedchain) && slices.Contains(apps, appKVStore)
		head := "| | " + strings.Join(apps, " | ") + " |"
		sep := "|---|" + strings.Repeat("---:|", len(apps))
		if ratio {
			head += " medchain / kvstore |"
			sep += "---:|"
		}
		p("%s", head)
		p("%s", sep)
		for _, row := range r.Summary {
			var cells []string
			for i := range row.Apps {
				if r.Params.Repeat > 1 {
					cells = append(cells, fmt.Sprintf("%.0f (%.0f–%.0f)", row.Median[i], row.Min[i], row.Max[i]))
				} else {
					cells = append(cells, fmt.Sprintf("%.0f", row.Median[i]))
				}
			}
			line := "| " + row.Metric + " | " + strings.Join(cells, " | ") + " |"
			if ratio {
				line += fmt.Sprintf(" **%.2f×** |", row.Ratio)
			}
			p("%s", line)
		}
		p("")
	}

	// Every run, one column each.
	runs := slices.Clone(r.Runs)
	sort.SliceStable(runs, func(i, j int) bool {
		if runs[i].App != runs[j].App {
			return slices.Index(r.Params.Apps, runs[i].App) < slices.Index(r.Params.Apps, runs[j].App)
		}
		return runs[i].Repeat < runs[j].Repeat
	})
	var cols []string
	for _, x := range runs {
		cols = append(cols, fmt.Sprintf("%s #%d", x.App, x.Repeat))
	}
	p("Every run:")
	p("")
	p("| | %s |", strings.Join(cols, " | "))
	p("|---|%s", strings.Repeat("---:|", len(cols)))
	var names []string
	for _, x := range runs {
		for _, ph := range x.Phases {
			if !slices.Contains(names, ph.Name) {
				names = append(names, ph.Name)
			}
		}
	}
	for _, name := range names {
		row := func(label string, f func(*phaseResult) string) {
			var v []string
			for _, x := range runs {
				if ph := x.phase(name); ph != nil {
					v = append(v, f(ph))
				} else {
					v = append(v, "–")
				}
			}
			p("| %s | %s |", label, strings.Join(v, " | "))
		}
		p("| **%s phase** |%s", name, strings.Repeat(" |", len(cols)))
		row("txs committed OK / planned", func(x *phaseResult) string { return fmt.Sprintf("%d / %d", x.CommittedOK, x.Planned) })
		row("refused / RPC errors / failed in block / lost", func(x *phaseResult) string {
			return fmt.Sprintf("%d / %d / %d / %d", x.Refused, x.SubmitErrors, x.FailedBlock, x.Missing)
		})
		row("first submit → last commit (s)", func(x *phaseResult) string { return fmt.Sprintf("%.2f", x.Seconds) })
		row("committed tx/s", func(x *phaseResult) string { return fmt.Sprintf("%.0f", x.TPS) })
		row("broadcast_tx_sync answered tx/s", func(x *phaseResult) string { return fmt.Sprintf("%.0f", x.SubmitRate) })
		row("broadcast_tx_sync round trip p50 / p99 (ms)", func(x *phaseResult) string { return fmt.Sprintf("%.1f / %.1f", x.CheckP50, x.CheckP99) })
		row("submit → commit p50 / p90 / p99 / max (ms)", func(x *phaseResult) string {
			return fmt.Sprintf("%.0f / %.0f / %.0f / %.0f", x.LatP50Ms, x.LatP90Ms, x.LatP99Ms, x.LatMaxMs)
		})
		row("blocks; txs per block mean / max", func(x *phaseResult) string {
			return fmt.Sprintf("%d; %.0f / %d", x.Blocks, x.MeanTxsPerBlock, x.MaxTxsPerBlock)
		})
		row("block interval mean (ms)", func(x *phaseResult) string { return fmt.Sprintf("%.0f", x.MeanIntervalMs) })
		row("heights decided after round 0", func(x *phaseResult) string { return fmt.Sprint(x.LateRounds) })
		row("CPU cores: validators / driver / others / idle", func(x *phaseResult) string {
			if x.CPU == nil {
				return "?"
			}
			return fmt.Sprintf("%.2f / %.2f / %.2f / %.2f", x.CPU.Validators, x.CPU.Driver, x.CPU.Other, x.CPU.Idle)
		})
	}
	p("")
	for _, x := range runs {
		if x.SetupSeconds > 0 {
			p("- %s #%d setup (not timed): %d accounts registered by the operators in %.1f s", x.App, x.Repeat, r.Params.Accounts, x.SetupSeconds)
		}
		if x.Profile != "" {
			p("- %s #%d: CPU profile of validator 0 in %s (`go tool pprof -top %s`)", x.App, x.Repeat, x.Profile, x.Profile)
		}
		for _, ph := range x.Phases {
			if ph.CPU != nil && ph.CPU.Other > disturbed {
				p("- **disturbed**: other processes used %.2f cores during %s #%d's %s phase", ph.CPU.Other, x.App, x.Repeat, ph.Name)
			}
			if ph.OtherTxs > 0 {
				p("- %s #%d %s: %d txs in the followed blocks were not the benchmark's", x.App, x.Repeat, ph.Name, ph.OtherTxs)
			}
			if len(ph.RefusedCodes) > 0 {
				var codes []string
				for c, n := range ph.RefusedCodes {
					codes = append(codes, fmt.Sprintf("code %d ×%d", c, n))
				}
				sort.Strings(codes)
				p("- %s #%d %s: CheckTx refusals: %s", x.App, x.Repeat, ph.Name, strings.Join(codes, ", "))
			}
			for _, s := range ph.Samples {
				p("- %s #%d %s: %s", x.App, x.Repeat, ph.Name, s)
			}
		}
	}
	if !r.Valid {
		p("- **NOT A VALID RUN**: some txs were refused, failed or never committed")
	}
	p("- Whole run: %.0f s", r.TotalSecs)
}

func txSizes(r *report) string {
	seen := map[string]bool{}
	var v []string
	for _, x := range r.Runs {
		if !seen[x.App] {
			seen[x.App] = true
			v = append(v, fmt.Sprintf("%d (%s)", x.MeanTxSize, x.App))
		}
	}
	return strings.Join(v, ", ")
}

func joinF(v []float64, sep string) string {
	var s []string
	for _, x := range v {
		s = append(s, fmt.Sprintf("%g", x))
	}
	return strings.Join(s, sep)
}

func pendingText(n int) string {
	if n == 0 {
		return "any number of"
	}
	return fmt.Sprint(n)
}
