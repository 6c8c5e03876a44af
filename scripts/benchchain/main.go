// Command benchchain is medchain's chain benchmark (run it through
// scripts/bench-chain.sh; docs/BENCHMARKS.md has the method and results).
// On a fresh N-validator loopback localnet, each validator its own OS process
// of the medchain binary, it measures signed-tx throughput and
// submit-to-commit latency of medchain (memo.post txs from registered
// accounts), then the same, in the same run and on the same node wiring, of
// CometBFT's own abci/example/kvstore app (`medchain start --bench-kvstore`)
// with txs of the same sizes, and prints the ratios.
//
// Every tx is built and signed before the nodes start. The accounts are
// lanes: lane i sends to node i mod N, in nonce order, one broadcast_tx_sync
// at a time. Each app run has phases, one after the other on the same
// localnet:
//
//   - throughput: -txs txs as fast as -concurrency submitters go, at most
//     -max-pending submitted but not committed;
//   - latency@R for each R of -rates: R tx/s for -paced-seconds, on a fixed
//     schedule (open loop).
//
// A follower polls node 0's abci_info every -poll; a tx's commit time is the
// poll that first shows the app committed its block. Latency = commit time -
// start of its broadcast. Throughput = committed txs / (last commit - first
// submit). Blocks and results are read back after each phase, so the nodes
// do not serve them during the timed window. Every app runs -repeat times,
// alternating the order; the summary gives medians.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type config struct {
	bin            string
	validators     int
	txs            int
	concurrency    int
	accounts       int
	memoBytes      int
	maxPending     int
	rates          []float64
	pacedSeconds   time.Duration
	repeat         int
	apps           string
	jsonOut        string
	profileDir     string
	profileSeconds int
	logLevel       string
	poll           time.Duration
	timeout        time.Duration
	startTimeout   time.Duration
	setupTimeout   time.Duration
	phaseTimeout   time.Duration
	workDir        string
	keep           bool
	verbose        bool
	command        string
	repo           string
	chainID        string
	seed           int64
}

type report struct {
	Date     string  `json:"date"`
	Command  string  `json:"command"`
	Code     string  `json:"code,omitempty"`
	Machine  machine `json:"machine"`
	Params   params  `json:"params"`
	SignUsTx float64 `json:"sign_us_per_tx"`
	// Runs holds every app run, in the order they ran.
	Runs []*appResult `json:"runs"`
	// Summary is the median over the repeats, per app and phase.
	Summary   []summaryRow `json:"summary"`
	Valid     bool         `json:"valid"`
	TotalSecs float64      `json:"total_seconds"`
}

type params struct {
	Validators   int       `json:"validators"`
	Txs          int       `json:"throughput_txs_per_app"`
	Rates        []float64 `json:"latency_rates_tx_per_s"`
	PacedSeconds float64   `json:"latency_phase_seconds"`
	Concurrency  int       `json:"concurrency"`
	Accounts     int       `json:"accounts"`
	MemoBytes    int       `json:"memo_bytes"`
	MaxPending   int       `json:"max_pending"`
	Repeat       int       `json:"repeat"`
	Poll         string    `json:"poll"`
	Apps         []string  `json:"apps"`
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg := &config{}
	flag.StringVar(&cfg.bin, "bin", "", "the medchain binary the validators run (required)")
	flag.IntVar(&cfg.validators, "validators", 4, "validators in the localnet, each its own process")
	flag.IntVar(&cfg.txs, "txs", 10000, "txs per app in the throughput phase (0: skip it)")
	rates := flag.String("rates", "100,400", "latency phases: steady offered loads in tx/s, comma-separated (empty: none)")
	flag.DurationVar(&cfg.pacedSeconds, "paced-seconds", 8*time.Second, "length of each latency phase (txs = rate × this)")
	flag.IntVar(&cfg.repeat, "repeat", 3, "run every app this many times, alternating the order; the summary gives medians")
	flag.IntVar(&cfg.concurrency, "concurrency", 16, "throughput phase: submitters, i.e. broadcast_tx_sync calls in flight (at most -accounts)")
	flag.IntVar(&cfg.accounts, "accounts", 64, "medchain accounts (lanes) sending the txs")
	flag.IntVar(&cfg.memoBytes, "memo-bytes", 200, "memo text bytes per medchain tx (kvstore txs are padded to the same tx size)")
	flag.IntVar(&cfg.maxPending, "max-pending", 1000, "throughput phase: at most this many txs submitted but not yet committed (0: no bound)")
	flag.StringVar(&cfg.apps, "apps", "medchain,kvstore", "apps to run, in order (the ratio needs both)")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&cfg.profileDir, "profile", "", "if set, save a CPU profile of validator 0 per app into this folder (via CometBFT's rpc.pprof_laddr)")
	flag.IntVar(&cfg.profileSeconds, "profile-seconds", 3, "length of the CPU profile; it starts with the first phase (keep it within that phase)")
	flag.StringVar(&cfg.logLevel, "log-level", "error", "validators' --log_level")
	flag.DurationVar(&cfg.poll, "poll", 20*time.Millisecond, "how often the block follower polls node 0 for a new height")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	flag.DurationVar(&cfg.startTimeout, "start-timeout", 90*time.Second, "bound on the localnet reaching height 2")
	flag.DurationVar(&cfg.setupTimeout, "setup-timeout", 2*time.Minute, "bound on registering the medchain accounts")
	flag.DurationVar(&cfg.phaseTimeout, "phase-timeout", 3*time.Minute, "bound on one timed phase")
	flag.StringVar(&cfg.workDir, "workdir", "", "where the temporary localnets go (default: the system temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the localnet folders (node logs) instead of removing them")
	flag.BoolVar(&cfg.verbose, "v", false, "log RPC hiccups of the block follower")
	flag.StringVar(&cfg.repo, "repo", ".", "the medchain checkout, to name its commit in the report")
	flag.StringVar(&cfg.command, "command", "", "the command line to print in the report (bench-chain.sh sets it)")
	flag.Int64Var(&cfg.seed, "seed", 1, "seed of the memo texts and kvstore values")
	flag.Parse()
	var badRates error
	for _, f := range strings.Split(*rates, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		r, err := strconv.ParseFloat(f, 64)
		if err != nil || r <= 0 {
			badRates = fmt.Errorf("-rates: %q is not a positive number of tx/s", f)
			break
		}
		cfg.rates = append(cfg.rates, r)
	}
	cfg.chainID = "medchain-bench"
	if cfg.command == "" {
		cfg.command = strings.Join(os.Args, " ")
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if err := errors.Join(badRates, cfg.check()); err != nil {
		fmt.Fprintln(os.Stderr, "benchchain:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeoutCause(ctx, cfg.timeout, fmt.Errorf("the whole run passed -timeout %s", cfg.timeout))
	defer cancel()

	began := time.Now()
	apps := strings.Split(cfg.apps, ",")
	rep := &report{
		Date: began.UTC().Format("2006-01-02 15:04 UTC"), Command: cfg.command, Code: codeVersion(cfg.repo), Machine: describeMachine(),
		Params: params{
			Validators: cfg.validators, Txs: cfg.txs, Rates: cfg.rates, PacedSeconds: cfg.pacedSeconds.Seconds(),
			Concurrency: min(cfg.concurrency, cfg.accounts), Accounts: cfg.accounts, MemoBytes: cfg.memoBytes,
			MaxPending: cfg.maxPending, Repeat: cfg.repeat, Poll: cfg.poll.String(), Apps: apps,
		},
	}
	w, err := buildWorkload(cfg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchain:", err)
		return 1
	}
	rep.SignUsTx = float64(w.signTime.Microseconds()) / float64(w.total())
	logf("built and signed %d medchain txs (%d-%d bytes) in %s: %.1f µs/tx on one core (not in the timed loop)",
		w.total(), w.minTxBytes, w.maxTxBytes, w.signTime.Round(time.Millisecond), rep.SignUsTx)

	for r := 1; r <= cfg.repeat; r++ {
		order := slices.Clone(apps)
		if r%2 == 0 { // alternate the order, so a drift of the machine hits both apps
			slices.Reverse(order)
		}
		for _, app := range order {
			logf("== %s, repeat %d of %d", app, r, cfg.repeat)
			res, err := runApp(ctx, cfg, w, app, logf)
			if err != nil {
				if ctx.Err() != nil {
					err = fmt.Errorf("%v; stopped the validators and removed the localnet", context.Cause(ctx))
				}
				fmt.Fprintf(os.Stderr, "benchchain: %s, repeat %d: %v\n", app, r, err)
				return 1
			}
			res.Repeat = r
			rep.Runs = append(rep.Runs, res)
		}
	}
	rep.Valid = true
	for _, r := range rep.Runs {
		rep.Valid = rep.Valid && r.valid()
	}
	rep.Summary = summarize(cfg, apps, rep.Runs)
	rep.TotalSecs = time.Since(began).Seconds()
	printReport(os.Stdout, rep)
	if cfg.jsonOut != "" {
		raw, _ := json.MarshalIndent(rep, "", "  ")
		if err := os.WriteFile(cfg.jsonOut, append(raw, '\n'), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "benchchain:", err)
			return 1
		}
	}
	if !rep.Valid {
		fmt.Fprintln(os.Stderr, "benchchain: WARNING: not a valid run: some txs were refused, failed in their block or never committed (see above)")
		return 3
	}
	return 0
}

func (c *config) check() error {
	var errs []error
	if c.bin == "" {
		errs = append(errs, errors.New("-bin is required: the medchain binary (go build -o X ./cmd/medchain)"))
	} else if st, err := os.Stat(c.bin); err != nil || st.IsDir() {
		errs = append(errs, fmt.Errorf("-bin %s: not a file", c.bin))
	}
	if c.validators < 1 || c.validators > 64 {
		errs = append(errs, fmt.Errorf("-validators %d: use 1 to 64", c.validators))
	}
	if c.accounts < 1 {
		errs = append(errs, fmt.Errorf("-accounts %d: at least 1", c.accounts))
	}
	if c.txs < 0 || (c.txs == 0 && len(c.rates) == 0) {
		errs = append(errs, fmt.Errorf("-txs %d and -rates: give a throughput phase, a latency phase or both", c.txs))
	}
	if len(c.rates) > 0 && c.pacedSeconds < time.Second {
		errs = append(errs, fmt.Errorf("-paced-seconds %s: at least 1s", c.pacedSeconds))
	}
	if c.repeat < 1 {
		errs = append(errs, fmt.Errorf("-repeat %d: at least 1", c.repeat))
	}
	if c.concurrency < 1 {
		errs = append(errs, fmt.Errorf("-concurrency %d: at least 1", c.concurrency))
	}
	if c.concurrency > c.accounts {
		errs = append(errs, fmt.Errorf("-concurrency %d > -accounts %d: an account's txs are sent one at a time in nonce order, so raise -accounts", c.concurrency, c.accounts))
	}
	if c.memoBytes < 1 || c.memoBytes > 1024 {
		errs = append(errs, fmt.Errorf("-memo-bytes %d: use 1 to 1024 (the genesis max_memo_bytes)", c.memoBytes))
	}
	if c.maxPending < 0 {
		errs = append(errs, fmt.Errorf("-max-pending %d: 0 (no bound) or more", c.maxPending))
	}
	for _, a := range strings.Split(c.apps, ",") {
		if a != appMedchain && a != appKVStore {
			errs = append(errs, fmt.Errorf("-apps: unknown app %q (medchain, kvstore)", a))
		}
	}
	if c.poll <= 0 {
		errs = append(errs, errors.New("-poll must be positive"))
	}
	return errors.Join(errs...)
}

// codeVersion names the commit the benchmark ran on, and says if the work
// tree had uncommitted changes to tracked files (empty outside a checkout).
func codeVersion(repo string) string {
	out, err := exec.Command("git", "-C", repo, "rev-parse", "--short=12", "HEAD").Output()
	if err != nil {
		return ""
	}
	v := "git " + strings.TrimSpace(string(out))
	if st, err := exec.Command("git", "-C", repo, "status", "--porcelain", "--untracked-files=no").Output(); err == nil {
		if n := len(strings.FieldsFunc(string(st), func(r rune) bool { return r == '\n' })); n > 0 {
			v += fmt.Sprintf(" with uncommitted changes to %d files", n)
		}
	}
	return v
}

type machine struct {
	CPU       string  `json:"cpu"`
	CPUs      int     `json:"cpus"`
	MemGiB    float64 `json:"mem_gib"`
	OS        string  `json:"os"`
	Kernel    string  `json:"kernel"`
	GoVersion string  `json:"go"`
}

func describeMachine() machine {
	m := machine{CPUs: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH}
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if raw, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb float64
		if _, err := fmt.Sscanf(string(raw), "MemTotal: %f kB", &kb); err == nil {
			m.MemGiB = float64(int(kb/(1<<20)*10+0.5)) / 10
		}
	}
	if raw, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = "Linux " + strings.TrimSpace(string(raw))
	}
	if raw, err := os.ReadFile("/etc/os-release"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if v, ok := strings.CutPrefix(l, "PRETTY_NAME="); ok {
				m.OS += ", " + strings.Trim(v, `"`)
			}
		}
	}
	return m
}
