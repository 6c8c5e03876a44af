package main

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// printReport writes the results as Markdown, ready for docs/BENCHMARKS.md.
func printReport(out io.Writer, r *report) {
	p := func(format string, a ...any) { fmt.Fprintf(out, format+"\n", a...) }
	p("")
	p("## Chain benchmark, %s", r.Date)
	p("")
	p("- Machine: %s, %d CPUs, %.1f GiB RAM; %s; %s; %s", r.Machine.CPU, r.Machine.CPUs, r.Machine.MemGiB, r.Machine.OS, r.Machine.Kernel, r.Machine.GoVersion)
	p("- Command: `%s`", r.Command)
	p("- Localnet: %d validators on 127.0.0.1, each its own process; %d txs per app from %d lanes (accounts), %d submitters (broadcast_tx_sync in flight), max pending %s; commit seen by polling node 0 every %s",
		r.Params.Validators, r.Params.Txs, r.Params.Accounts, r.Params.Concurrency, pendingText(r.Params.MaxPending), r.Params.Poll)
	p("- Signing (not timed): %.1f µs per medchain tx on one core", r.SignUsTx)
	p("")
	var cols []string
	for _, x := range r.Results {
		cols = append(cols, x.App)
	}
	p("| | %s |", strings.Join(cols, " | "))
	p("|---|%s", strings.Repeat("---:|", len(cols)))
	row := func(name string, f func(*appResult) string) {
		var v []string
		for _, x := range r.Results {
			v = append(v, f(x))
		}
		p("| %s | %s |", name, strings.Join(v, " | "))
	}
	row("tx size (mean bytes)", func(x *appResult) string { return fmt.Sprint(x.MeanTxSize) })
	row("txs committed OK / planned", func(x *appResult) string { return fmt.Sprintf("%d / %d", x.CommittedOK, x.PlannedTxs) })
	row("CheckTx refused / RPC errors", func(x *appResult) string { return fmt.Sprintf("%d / %d", x.Refused, x.SubmitErrors) })
	row("failed in block / never committed", func(x *appResult) string { return fmt.Sprintf("%d / %d", x.FailedBlock, x.Missing) })
	row("duration, first submit → last commit (s)", func(x *appResult) string { return fmt.Sprintf("%.2f", x.Seconds) })
	row("**throughput (tx/s)**", func(x *appResult) string { return fmt.Sprintf("**%.0f**", x.TPS) })
	row("submit rate, broadcast_tx_sync (tx/s)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.SubmitRate) })
	row("broadcast_tx_sync round trip p50 / p99 (ms)", func(x *appResult) string { return fmt.Sprintf("%.1f / %.1f", x.CheckP50, x.CheckP99) })
	row("**latency p50 (ms)**", func(x *appResult) string { return fmt.Sprintf("**%.0f**", x.LatP50Ms) })
	row("latency p90 (ms)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.LatP90Ms) })
	row("latency p99 (ms)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.LatP99Ms) })
	row("latency max (ms)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.LatMaxMs) })
	row("latency mean (ms)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.LatMeanMs) })
	row("blocks with load", func(x *appResult) string { return fmt.Sprint(x.Blocks) })
	row("txs per block, mean / max", func(x *appResult) string { return fmt.Sprintf("%.0f / %d", x.MeanTxsPerBlock, x.MaxTxsPerBlock) })
	row("block interval, mean (ms, header times)", func(x *appResult) string { return fmt.Sprintf("%.0f", x.MeanIntervalMs) })
	p("")
	if r.RatioTPS > 0 {
		p("**medchain / kvstore: throughput %.2f×, latency p50 %.2f×, p99 %.2f×**", r.RatioTPS, r.RatioP50, r.RatioP99)
		p("")
	}
	for _, x := range r.Results {
		if x.SetupSeconds > 0 {
			p("- %s setup (not timed): %d accounts registered by the operators in %.1f s", x.App, r.Params.Accounts, x.SetupSeconds)
		}
		if x.Profile != "" {
			p("- %s: CPU profile of validator 0 in %s (`go tool pprof -top %s`)", x.App, x.Profile, x.Profile)
		}
		if x.OtherTxs > 0 {
			p("- %s: %d txs in the followed blocks were not the benchmark's", x.App, x.OtherTxs)
		}
		if len(x.RefusedCodes) > 0 {
			var codes []string
			for c, n := range x.RefusedCodes {
				codes = append(codes, fmt.Sprintf("code %d ×%d", c, n))
			}
			sort.Strings(codes)
			p("- %s: CheckTx refusals: %s", x.App, strings.Join(codes, ", "))
		}
		for _, s := range x.Samples {
			p("- %s: %s", x.App, s)
		}
	}
	if !r.Valid {
		p("- **NOT A VALID RUN**: some txs were refused, failed or never committed")
	}
	p("- Whole run: %.0f s", r.TotalSecs)
}

func pendingText(n int) string {
	if n == 0 {
		return "unbounded"
	}
	return fmt.Sprint(n)
}
