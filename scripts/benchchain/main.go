// Command benchchain is medchain's chain benchmark (run it through
// scripts/bench-chain.sh). On a fresh N-validator loopback localnet, each
// validator its own OS process of the medchain binary, it measures signed-tx
// throughput and submit-to-commit latency of medchain (memo.post txs from
// registered accounts), then does the same, in the same run and on the same
// node wiring, with CometBFT's own abci/example/kvstore app (`medchain start
// --bench-kvstore`) and txs of the same sizes, and prints the ratio.
//
// Method. Every tx is built and signed before the nodes start. The accounts
// are lanes: a lane's txs go to one node (lane i to node i mod N), in nonce
// order, one broadcast_tx_sync at a time; -concurrency workers share the
// lanes, so at most -concurrency broadcasts are in flight. -max-pending
// bounds the txs submitted but not yet seen committed (0: no bound). A
// follower polls node 0 every -poll for new heights and reads each block and
// its results; a tx's commit time is the time of the poll that revealed its
// block. Latency = commit time - time its broadcast started. Throughput =
// committed txs / (last commit - first submit).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
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
	chainID        string
	seed           int64
}

type report struct {
	Date     string       `json:"date"`
	Command  string       `json:"command"`
	Machine  machine      `json:"machine"`
	Params   params       `json:"params"`
	SignUsTx float64      `json:"sign_us_per_tx"`
	Results  []*appResult `json:"results"`
	// medchain / kvstore
	RatioTPS   float64 `json:"ratio_throughput,omitempty"`
	RatioP50   float64 `json:"ratio_latency_p50,omitempty"`
	RatioP99   float64 `json:"ratio_latency_p99,omitempty"`
	Valid      bool    `json:"valid"`
	TotalSecs  float64 `json:"total_seconds"`
	ProfileDir string  `json:"profile_dir,omitempty"`
}

type params struct {
	Validators  int    `json:"validators"`
	Txs         int    `json:"txs_per_app"`
	Concurrency int    `json:"concurrency"`
	Accounts    int    `json:"accounts"`
	MemoBytes   int    `json:"memo_bytes"`
	MaxPending  int    `json:"max_pending"`
	Poll        string `json:"poll"`
}

func main() {
	os.Exit(run())
}

func run() int {
	cfg := &config{}
	flag.StringVar(&cfg.bin, "bin", "", "the medchain binary the validators run (required)")
	flag.IntVar(&cfg.validators, "validators", 4, "validators in the localnet, each its own process")
	flag.IntVar(&cfg.txs, "txs", 4000, "txs per app in the timed phase")
	flag.IntVar(&cfg.concurrency, "concurrency", 64, "submitters: broadcast_tx_sync calls in flight (at most -accounts)")
	flag.IntVar(&cfg.accounts, "accounts", 64, "medchain accounts (lanes) sending the txs")
	flag.IntVar(&cfg.memoBytes, "memo-bytes", 200, "memo text bytes per medchain tx (kvstore txs are padded to the same tx size)")
	flag.IntVar(&cfg.maxPending, "max-pending", 0, "at most this many txs submitted but not yet committed (0: no bound)")
	flag.StringVar(&cfg.apps, "apps", "medchain,kvstore", "apps to run, in order (the ratio needs both)")
	flag.StringVar(&cfg.jsonOut, "json", "", "also write the results as JSON to this file")
	flag.StringVar(&cfg.profileDir, "profile", "", "if set, save a CPU profile of validator 0 per app into this folder (via CometBFT's rpc.pprof_laddr)")
	flag.IntVar(&cfg.profileSeconds, "profile-seconds", 10, "length of the CPU profile; it starts with the timed phase")
	flag.StringVar(&cfg.logLevel, "log-level", "error", "validators' --log_level")
	flag.DurationVar(&cfg.poll, "poll", 20*time.Millisecond, "how often the block follower polls node 0 for a new height")
	flag.DurationVar(&cfg.timeout, "timeout", 15*time.Minute, "bound on the whole run")
	flag.DurationVar(&cfg.startTimeout, "start-timeout", 90*time.Second, "bound on the localnet reaching height 2")
	flag.DurationVar(&cfg.setupTimeout, "setup-timeout", 2*time.Minute, "bound on registering the medchain accounts")
	flag.DurationVar(&cfg.phaseTimeout, "phase-timeout", 4*time.Minute, "bound on one app's timed phase")
	flag.StringVar(&cfg.workDir, "workdir", "", "where the temporary localnets go (default: the system temp dir)")
	flag.BoolVar(&cfg.keep, "keep", false, "keep the localnet folders (node logs) instead of removing them")
	flag.BoolVar(&cfg.verbose, "v", false, "log RPC hiccups of the block follower")
	flag.StringVar(&cfg.command, "command", "", "the command line to print in the report (bench-chain.sh sets it)")
	flag.Int64Var(&cfg.seed, "seed", 1, "seed of the memo texts and kvstore values")
	flag.Parse()
	cfg.chainID = "medchain-bench"
	if cfg.command == "" {
		cfg.command = strings.Join(os.Args, " ")
	}
	logf := func(format string, a ...any) {
		fmt.Fprintf(os.Stderr, "%s "+format+"\n", append([]any{time.Now().Format("15:04:05")}, a...)...)
	}
	if err := cfg.check(); err != nil {
		fmt.Fprintln(os.Stderr, "benchchain:", err)
		return 2
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()

	began := time.Now()
	rep := &report{
		Date: began.UTC().Format("2006-01-02 15:04 UTC"), Command: cfg.command, Machine: describeMachine(),
		Params: params{
			Validators: cfg.validators, Txs: cfg.txs, Concurrency: min(cfg.concurrency, cfg.accounts),
			Accounts: cfg.accounts, MemoBytes: cfg.memoBytes, MaxPending: cfg.maxPending, Poll: cfg.poll.String(),
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

	for _, app := range strings.Split(cfg.apps, ",") {
		res, err := runApp(ctx, cfg, w, app, logf)
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w (%v)", err, context.Cause(ctx))
			}
			fmt.Fprintf(os.Stderr, "benchchain: %s: %v\n", app, err)
			return 1
		}
		logf("[%s] %d txs committed in %.2fs: %.0f tx/s, p50 %.0f ms, p99 %.0f ms", app, res.CommittedOK, res.Seconds, res.TPS, res.LatP50Ms, res.LatP99Ms)
		rep.Results = append(rep.Results, res)
	}
	rep.Valid = true
	for _, r := range rep.Results {
		rep.Valid = rep.Valid && r.valid()
	}
	if len(rep.Results) == 2 && rep.Results[1].TPS > 0 && rep.Results[1].LatP50Ms > 0 {
		rep.RatioTPS = rep.Results[0].TPS / rep.Results[1].TPS
		rep.RatioP50 = rep.Results[0].LatP50Ms / rep.Results[1].LatP50Ms
		rep.RatioP99 = rep.Results[0].LatP99Ms / rep.Results[1].LatP99Ms
	}
	rep.TotalSecs = time.Since(began).Seconds()
	rep.ProfileDir = cfg.profileDir
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
	if c.txs < c.accounts {
		errs = append(errs, fmt.Errorf("-txs %d: at least one per account (-accounts %d)", c.txs, c.accounts))
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
