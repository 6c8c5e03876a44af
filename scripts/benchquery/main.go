// Command benchquery measures encrypted research queries end to end on a
// 4-validator loopback localnet (scripts/bench-query.sh runs it): the
// hospitals import a synthetic cohort with `medchain ingest --phased`,
// then a researcher asks the same questions several times; for each run
// it reports submit → committed → every contribution aggregated → cohort
// count decrypted → result switched → decrypted locally, and the CPU the
// validators (with their workers) used. It prints a Markdown report.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/scripts/internal/cpu"
)

var queries = []struct{ name, text string }{
	{"the 5 statistics of truth.json (count, age histogram, 61-bin Kaplan–Meier, linreg sbp ~ age + bmi)",
		"SELECT count(), histogram(age; 0,18,40,65,80,120), survival(C34; 30, 1825), linreg(sbp ~ age + bmi) AS OF '2025-01-01'"},
	{"HbA1c of diabetics (count, mean, variance)", "SELECT variance(hba1c) WHERE condition = 'E11' AS OF '2025-01-01'"},
}

func main() {
	bin := flag.String("bin", "", "the medchain binary (required)")
	work := flag.String("workdir", "", "an empty folder for the localnet (required)")
	patients := flag.Int("patients", 1000, "patients per hospital")
	runs := flag.Int("runs", 3, "runs of each query")
	command := flag.String("command", "scripts/bench-query.sh", "the command line to print in the report")
	reuse := flag.Bool("reuse", false, "start the localnet a previous run left in -workdir (its import included) instead of a new one")
	parallel := flag.Bool("parallel-import", true, "the 4 hospitals import at the same time (false: one after the other)")
	flag.Parse()
	if *bin == "" || *work == "" || *patients < 1 || *runs < 1 {
		fmt.Fprintln(os.Stderr, "benchquery: -bin and -workdir are required; -patients and -runs must be ≥ 1")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *bin, *work, *patients, *runs, *command, *reuse, *parallel); err != nil {
		fmt.Fprintln(os.Stderr, "benchquery:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, bin, work string, patients, runs int, command string, reuse, parallel bool) (err error) {
	r := genesis.DefaultResearch()
	// Exact results, no budget limit on repeated runs, and the plaintext
	// baseline allowed: the figures are the cost of the encrypted path
	// against the same flow without encryption (noise drawing is
	// microseconds). A long deadline: a loaded 2-core machine may be slow.
	r.DPOff, r.MinCohort, r.ContributionDeadlineBlocks, r.PlaintextBaseline = true, 1, 1000, true
	netDir, importFile := filepath.Join(work, "net"), filepath.Join(work, "import-duration")
	var m *localnet.Manifest
	if reuse {
		if m, err = localnet.LoadManifest(netDir); err != nil {
			return fmt.Errorf("-reuse: %w", err)
		}
	} else if m, err = localnet.Generate(localnet.Options{Dir: netDir, Validators: 4, ChainID: "medchain-bench-query", Researcher: true, Research: r}); err != nil {
		return err
	}
	c := localnet.NewCluster(bin, m)
	if reuse {
		// The wait for warm tables below reads the new logs only.
		for i := range m.Nodes {
			if err := os.Rename(c.LogPath(i), c.LogPath(i)+".prev"); err != nil && !os.IsNotExist(err) {
				return err
			}
		}
	}
	defer func() {
		if e := c.StopAll(); e != nil && err == nil {
			err = e
		}
	}()
	if err := c.StartAll(); err != nil {
		return err
	}
	if err := c.WaitKeyCeremony(ctx); err != nil {
		return err
	}
	say := func(format string, a ...any) { fmt.Fprintf(os.Stderr, format+"\n", a...) }
	var imported time.Duration
	how := "one hospital after the other"
	if parallel {
		how = "the 4 hospitals at the same time"
	}
	if reuse {
		raw, err := os.ReadFile(importFile)
		if err != nil {
			return fmt.Errorf("-reuse: %w", err)
		}
		// The duration, then (since the parallel import) how it was done.
		lines := strings.SplitN(strings.TrimSpace(string(raw)), "\n", 2)
		if imported, err = time.ParseDuration(lines[0]); err != nil {
			return fmt.Errorf("-reuse: %s: %w", importFile, err)
		}
		how = "one hospital after the other"
		if len(lines) == 2 {
			how = lines[1]
		}
	} else {
		t0 := time.Now()
		if err := localnet.ImportCohort(ctx, c, localnet.ImportOptions{Bin: bin, Dir: filepath.Join(work, "cohort"), Patients: patients, Seed: 1, Parallel: parallel, Say: say}); err != nil {
			return err
		}
		imported = time.Since(t0)
		if err := os.WriteFile(importFile, []byte(imported.String()+"\n"+how+"\n"), 0o600); err != nil {
			return err
		}
	}
	// Each hospital's contributor loads its vault in the background
	// (researchwork.Preload); the figures are for warm tables.
	t0 := time.Now()
	for i := range m.Nodes {
		for {
			raw, _ := os.ReadFile(c.LogPath(i))
			if strings.Contains(string(raw), "cohort: vault loaded") {
				break
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Second):
			}
		}
	}
	warm := time.Since(t0)
	say("every hospital's table is loaded (%s after the import)", warm.Round(time.Second))
	subjects, err := subjectCounts(ctx, c)
	if err != nil {
		return err
	}

	fmt.Printf("## Research queries (`%s`)\n\n", command)
	fmt.Printf("Run %s. Machine: %d CPUs, %s/%s, %s. 4 validators (one OS process each, with its HE worker and research contributor) on 127.0.0.1; %d synthetic patients per hospital imported with `medchain ingest --phased` (%s) in %s; each hospital's worker then loads its vault in the background (all 4 loaded %s after the validators started); DP off (exact results); t = 3. Each run asks the query encrypted, then the same query in the plaintext baseline (hospitals post plaintext figures, the contract sums and releases them; no encryption, no decryption rounds).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), patients, how, imported.Round(time.Second), warm.Round(time.Second))
	fmt.Printf("Research subjects each hospital answers for (on chain, at the first query): %s.\n\n", subjects)
	fmt.Println("| query | run | mode | committed | aggregated | count decrypted | released | researcher decrypts | figures | validator CPU (core·s) |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|")
	type sample struct{ released, cpu float64 }
	for _, q := range queries {
		var enc, plain []sample
		for i := 1; i <= runs; i++ {
			for _, plaintext := range []bool{false, true} {
				before := cpu.Read()
				t := time.Now()
				var res *localnet.QueryRun
				if plaintext {
					res, err = localnet.RunPlaintextQuery(ctx, c, q.text)
				} else {
					res, err = localnet.RunQuery(ctx, c, q.text, 0)
				}
				if err != nil {
					return err
				}
				wall := time.Since(t)
				use := cpu.Read().Since(before, runtime.NumCPU())
				coreSec, cores := -1.0, "n/a"
				if use != nil {
					coreSec = use.Validators * wall.Seconds()
					cores = fmt.Sprintf("%.1f", coreSec)
				}
				mode, s := "encrypted", &enc
				if plaintext {
					mode, s = "plaintext", &plain
				}
				*s = append(*s, sample{res.Released.Seconds(), coreSec})
				ms := func(d time.Duration) string { return fmt.Sprintf("%.2f s", d.Seconds()) }
				fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s | %d | %s |\n", q.name, i, mode, ms(res.Committed), ms(res.Aggregated), ms(res.Gated), ms(res.Released),
					fmt.Sprintf("%.0f ms", float64(res.Decrypt.Microseconds())/1000), res.Figures, cores)
			}
		}
		median := func(xs []sample, f func(sample) float64) float64 {
			v := make([]float64, len(xs))
			for i, x := range xs {
				v[i] = f(x)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		rel := func(x sample) float64 { return x.released }
		say("%s: median submit → released %.2f s encrypted, %.2f s plaintext (×%.2f)", q.name, median(enc, rel), median(plain, rel), median(enc, rel)/median(plain, rel))
		summaries = append(summaries, fmt.Sprintf("| %s | %.2f s | %.2f s | ×%.2f | %.1f | %.1f |", q.name, median(enc, rel), median(plain, rel), median(enc, rel)/median(plain, rel),
			median(enc, func(x sample) float64 { return x.cpu }), median(plain, func(x sample) float64 { return x.cpu })))
	}
	fmt.Println()
	fmt.Println("Medians over the runs:")
	fmt.Println()
	fmt.Println("| query | encrypted: submit → released | plaintext baseline | ratio | validator CPU, encrypted (core·s) | plaintext (core·s) |")
	fmt.Println("|---|---|---|---|---|---|")
	for _, l := range summaries {
		fmt.Println(l)
	}
	fmt.Println()
	return nil
}

var summaries []string

// subjectCounts says how many research subjects each hospital answers for
// at the latest height: what a run measures over, whatever -patients said
// (a -reuse run may be on a partial import).
func subjectCounts(ctx context.Context, c *localnet.Cluster) (string, error) {
	var out []string
	for i, n := range c.Manifest.Nodes {
		cl, err := c.Client(i)
		if err != nil {
			return "", err
		}
		st, err := cl.Status(ctx)
		if err != nil {
			return "", err
		}
		h := st.SyncInfo.LatestBlockHeight
		res, err := cl.Query(ctx, fmt.Sprintf("/research/subjects/%s/%d", n.HospitalID, h), h, false)
		if err != nil {
			return "", err
		}
		var s pb.ResearchSubjects
		if err := tx.Unmarshal(res.Value, &s); err != nil {
			return "", fmt.Errorf("subjects of %s: %w", n.HospitalID, err)
		}
		out = append(out, fmt.Sprintf("%s %d", n.HospitalID, len(s.Pseudonyms)))
	}
	return strings.Join(out, ", "), nil
}
