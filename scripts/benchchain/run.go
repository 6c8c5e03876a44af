package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/scripts/internal/cpu"
)

const (
	appMedchain = "medchain"
	appKVStore  = "kvstore"
)

// appResult is what one app's run measured.
type appResult struct {
	App          string         `json:"app"`
	Repeat       int            `json:"repeat"`
	MeanTxSize   int            `json:"mean_tx_bytes"`
	SetupSeconds float64        `json:"setup_seconds,omitempty"`
	Phases       []*phaseResult `json:"phases"`
	Profile      string         `json:"cpu_profile,omitempty"`
}

func (r *appResult) valid() bool {
	for _, p := range r.Phases {
		if !p.valid() {
			return false
		}
	}
	return true
}

// phase returns the result of the phase called name, or nil.
func (r *appResult) phase(name string) *phaseResult {
	for _, p := range r.Phases {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// phaseResult is what one timed phase measured.
type phaseResult struct {
	Name        string  `json:"name"`
	Planned     int     `json:"planned_txs"`
	OfferedRate float64 `json:"offered_tx_per_s,omitempty"` // latency phase: the schedule

	Accepted     int            `json:"checktx_accepted"`
	Refused      int            `json:"checktx_refused"`
	RefusedCodes map[uint32]int `json:"checktx_refused_codes,omitempty"`
	SubmitErrors int            `json:"submit_errors"`
	NotSubmitted int            `json:"not_submitted"`
	CommittedOK  int            `json:"committed_ok"`
	FailedBlock  int            `json:"failed_in_block"`
	Missing      int            `json:"accepted_never_committed"`
	Samples      []string       `json:"error_samples,omitempty"`

	SubmitSeconds float64 `json:"submit_seconds"` // first submit to last broadcast_tx_sync answer
	SubmitRate    float64 `json:"submit_tx_per_s"`
	Seconds       float64 `json:"seconds"` // first submit to last commit seen
	TPS           float64 `json:"tx_per_s"`

	LatMeanMs float64 `json:"latency_mean_ms"`
	LatP50Ms  float64 `json:"latency_p50_ms"`
	LatP90Ms  float64 `json:"latency_p90_ms"`
	LatP99Ms  float64 `json:"latency_p99_ms"`
	LatMaxMs  float64 `json:"latency_max_ms"`
	CheckP50  float64 `json:"broadcast_sync_p50_ms"` // broadcast_tx_sync round trip
	CheckP99  float64 `json:"broadcast_sync_p99_ms"`

	Blocks          int      `json:"blocks"`
	MeanTxsPerBlock float64  `json:"mean_txs_per_block"`
	MaxTxsPerBlock  int      `json:"max_txs_per_block"`
	MeanIntervalMs  float64  `json:"mean_block_interval_ms"`
	LateRounds      int      `json:"heights_decided_after_round_0"`
	CPU             *cpu.Use `json:"cpu,omitempty"`
	OtherTxs        int      `json:"other_txs_in_blocks"`

	BlockLog []blockRow `json:"blocks_log,omitempty"`
}

// blockRow is one block of a phase, for the JSON output.
type blockRow struct {
	Height int64   `json:"height"`
	Txs    int     `json:"txs"`
	Round  int32   `json:"round"`
	SeenMs float64 `json:"seen_ms"` // when its commit was seen, since the phase's first submit
	TimeMs float64 `json:"time_ms"` // its header time, same origin
}

func (r *phaseResult) valid() bool {
	return r.Refused == 0 && r.SubmitErrors == 0 && r.NotSubmitted == 0 && r.FailedBlock == 0 &&
		r.Missing == 0 && r.CommittedOK == r.Planned
}

// txRec follows one tx. submit/ret/accepted are written by its submitter,
// commit/height/code by the block follower; both are read after they end.
type txRec struct {
	submit, ret time.Time
	accepted    bool
	commit      time.Time
	height      int64
	code        uint32
}

type blockInfo struct {
	height int64
	time   time.Time
	seen   time.Time
	txs    int
	bench  int
	round  int32
}

func runApp(ctx context.Context, cfg *config, w *workload, app string, logf func(string, ...any)) (res *appResult, err error) {
	dir, err := os.MkdirTemp(cfg.workDir, "medchain-bench-"+app+"-")
	if err != nil {
		return nil, err
	}
	defer func() {
		if cfg.keep {
			logf("[%s] kept the localnet in %s", app, dir)
			return
		}
		if rmErr := os.RemoveAll(dir); rmErr != nil && err == nil {
			err = rmErr
		}
	}()
	var pprofAddr string
	if cfg.profileDir != "" {
		if pprofAddr, err = freeAddr(); err != nil {
			return nil, err
		}
	}
	m, err := localnet.Generate(localnet.Options{
		Dir: dir, Validators: cfg.validators, ChainID: w.chainID,
		Tune: func(c *cmtcfg.Config) {
			// Same for both apps. The mempool keeps CometBFT's default size
			// unless a phase could hold more txs than that at once.
			if n := cfg.mempoolNeed(); c.Mempool.Size < n {
				c.Mempool.Size = n
			}
			if pprofAddr != "" && c.Moniker == "hospital0" {
				c.RPC.PprofListenAddress = pprofAddr
			}
		},
	})
	if err != nil {
		return nil, fmt.Errorf("generate localnet: %w", err)
	}
	cl := localnet.NewCluster(cfg.bin, m)
	cl.ExtraArgs = []string{"--log_level", cfg.logLevel}
	if app == appKVStore {
		cl.ExtraArgs = append(cl.ExtraArgs, "--bench-kvstore")
	}
	defer func() {
		if stopErr := cl.StopAll(); stopErr != nil && err == nil {
			err = fmt.Errorf("stop the %s localnet: %w", app, stopErr)
		}
		if err != nil && ctx.Err() == nil {
			dumpLogs(cl, len(m.Nodes), logf)
		}
	}()
	if err := cl.StartAll(); err != nil {
		return nil, err
	}
	wctx, cancel := context.WithTimeout(ctx, cfg.startTimeout)
	for i := range m.Nodes {
		if _, err := cl.WaitHeight(wctx, i, 2); err != nil {
			cancel()
			return nil, err
		}
	}
	cancel()
	logf("[%s] %d validators up (each its own process), committing blocks", app, len(m.Nodes))

	rpcs, err := dialAll(m, cfg.concurrency)
	if err != nil {
		return nil, err
	}
	res = &appResult{App: app, MeanTxSize: w.medBytes / max(1, w.total())}
	if app == appKVStore {
		res.MeanTxSize = w.kvBytes / max(1, w.total())
	}
	if app == appMedchain {
		// The HE workers sign with the operator keys too: let the key
		// ceremony (≈3 MB of txs) finish before setup and timing start.
		wctx, wcancel := context.WithTimeout(ctx, cfg.setupTimeout)
		err := cl.WaitKeyCeremony(wctx)
		wcancel()
		if err != nil {
			return nil, fmt.Errorf("key ceremony: %w", err)
		}
		sctx, cancel := context.WithTimeout(ctx, cfg.setupTimeout)
		t0 := time.Now()
		err = setupMedchain(sctx, m, w)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("setup (register %d accounts): %w", len(w.keys), err)
		}
		res.SetupSeconds = time.Since(t0).Seconds()
		logf("[%s] setup: the operators registered %d accounts in %.1fs (not timed)", app, len(w.keys), res.SetupSeconds)
	}

	// The CPU profile starts with the first phase, which waits for it to end
	// before reading the blocks back, so the profile never includes that.
	var profDone chan struct{}
	var profErr error
	if pprofAddr != "" {
		if err := os.MkdirAll(cfg.profileDir, 0o755); err != nil {
			return nil, err
		}
		res.Profile = filepath.Join(cfg.profileDir, app+"-node0.cpu.pprof")
		profDone = make(chan struct{})
		go func() {
			defer close(profDone)
			profErr = fetchProfile(ctx, pprofAddr, cfg.profileSeconds, res.Profile)
		}()
	}
	for p, spec := range cfg.phases() {
		if spec.paced() {
			logf("[%s] %s phase: %d txs of ~%d bytes at a steady %g tx/s", app, spec.name, spec.txs, res.MeanTxSize, spec.rate)
		} else {
			logf("[%s] %s phase: %d txs of ~%d bytes as fast as %d submitters go (max pending %s)",
				app, spec.name, spec.txs, res.MeanTxSize, min(cfg.concurrency, cfg.accounts), pendingText(cfg.maxPending))
		}
		pctx, cancel := context.WithTimeout(ctx, cfg.phaseTimeout)
		var hold <-chan struct{}
		if p == 0 {
			hold = profDone
		}
		pr, err := timedPhase(ctx, pctx, cfg, w, app, rpcs, p, spec, hold)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("%s phase: %w", spec.name, err)
		}
		res.Phases = append(res.Phases, pr)
		logf("[%s] %s phase: %d/%d txs committed OK in %.2fs: %.0f tx/s; submit→commit p50 %.0f ms, p99 %.0f ms",
			app, spec.name, pr.CommittedOK, pr.Planned, pr.Seconds, pr.TPS, pr.LatP50Ms, pr.LatP99Ms)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
	}
	if profDone != nil {
		<-profDone
		if profErr != nil {
			logf("[%s] cpu profile: %v", app, profErr)
			res.Profile = ""
		}
	}
	return res, nil
}

// dialAll returns an RPC client per node sharing one HTTP transport that
// keeps enough idle connections for every submitter (the default keeps 2
// per host, and the rest would reconnect for every tx).
func dialAll(m *localnet.Manifest, conc int) ([]*rpchttp.HTTP, error) {
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DisableCompression:  true,
			MaxIdleConns:        4 * (conc + 8),
			MaxIdleConnsPerHost: conc + 8,
			IdleConnTimeout:     90 * time.Second,
		},
	}
	out := make([]*rpchttp.HTTP, len(m.Nodes))
	for i, n := range m.Nodes {
		c, err := rpchttp.NewWithClient(n.RPC, "/websocket", hc)
		if err != nil {
			return nil, fmt.Errorf("node %d rpc: %w", i, err)
		}
		out[i] = c
	}
	return out, nil
}

// setupMedchain has each node's operator register its share of the bench
// accounts through its own node, pipelining its nonces (broadcast_tx_sync,
// no wait per commit), then waits until every node has every account.
func setupMedchain(ctx context.Context, m *localnet.Manifest, w *workload) error {
	n := len(m.Nodes)
	clients := make([]*client.Client, n)
	for i, nd := range m.Nodes {
		c, err := client.Dial(nd.RPC)
		if err != nil {
			return err
		}
		clients[i] = c
	}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range m.Nodes {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			errs[i] = registerShare(ctx, m.Nodes[i], clients[i], w, i, n)
		}(i)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Every node must know every account before the load starts: a tx
	// reaching a node that has not committed its signer's registration yet
	// would be refused as unknown_signer.
	for i, c := range clients {
		for a, addr := range w.addrs {
			for {
				acc, err := c.Account(ctx, addr)
				if err == nil && acc != nil {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("node %d does not have account %d (%s): %v (last error: %v)", i, a, addr, ctx.Err(), err)
				case <-time.After(100 * time.Millisecond):
				}
			}
		}
	}
	return nil
}

func registerShare(ctx context.Context, nd localnet.NodeInfo, c *client.Client, w *workload, i, n int) error {
	kr, err := keyring.Open(node.KeyringDir(nd.Home), keyring.BackendTest, nil)
	if err != nil {
		return err
	}
	op, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		return err
	}
	opAddr := pb.AddressOf(op.Public().(ed25519.PublicKey))
	acc, err := c.Account(ctx, opAddr)
	if err != nil {
		return err
	}
	if acc == nil {
		return fmt.Errorf("operator %s of node %d has no account", opAddr, i)
	}
	seq := acc.Sequence
	sent := uint64(0)
	for a := i; a < len(w.keys); a += n {
		role := pb.Role_ROLE_DOCTOR
		if a%2 == 1 {
			role = pb.Role_ROLE_PATIENT
		}
		raw, err := tx.Build(op, w.chainID, opAddr, seq+sent, accounts.TypeRegister, &pb.RegisterAccount{
			Pubkey: w.keys[a].Public().(ed25519.PublicKey), Role: role, Label: fmt.Sprintf("bench-%d", a),
		})
		if err != nil {
			return err
		}
		r, err := c.RPC().BroadcastTxSync(ctx, raw)
		if err != nil {
			return fmt.Errorf("node %d: register account %d: %w", i, a, err)
		}
		if r.Code != 0 {
			return fmt.Errorf("node %d: register account %d refused: code %d: %s", i, a, r.Code, r.Log)
		}
		sent++
	}
	for {
		acc, err := c.Account(ctx, opAddr)
		if err == nil && acc != nil && acc.Sequence >= seq+sent {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("node %d: registrations not committed: %v", i, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// timedPhase sends every lane's txs of one phase and follows node 0 until
// every accepted tx is in a block the app has committed (or ctx ends).
//
// Throughput phase (rate 0): -concurrency workers share the lanes and
// send as fast as broadcast_tx_sync answers, at most -max-pending txs
// uncommitted. Latency phase: each lane has its own sender and the lanes'
// txs are interleaved on a fixed schedule of spec.rate tx/s in all (an open
// loop: a slow answer delays only that lane's next tx).
func timedPhase(outer, ctx context.Context, cfg *config, w *workload, app string, rpcs []*rpchttp.HTTP, p int, spec phaseSpec, hold <-chan struct{}) (*phaseResult, error) {
	res := &phaseResult{Name: spec.name}
	paced := spec.paced()
	recs := make([][]*txRec, len(w.lanes))
	index := map[[32]byte]*txRec{}
	for a := range w.lanes {
		for _, raw := range w.txs(app, a, p) {
			r := &txRec{}
			recs[a] = append(recs[a], r)
			index[sha256.Sum256(raw)] = r
		}
		res.Planned += len(recs[a])
	}
	if res.Planned == 0 {
		return res, nil
	}
	info, err := rpcs[0].ABCIInfo(ctx)
	if err != nil {
		return nil, err
	}
	startHeight := info.Response.LastBlockHeight

	var (
		accepted         atomic.Int64
		workersDone      atomic.Bool
		mu               sync.Mutex // guards the counters below
		refusedCodes     = map[uint32]int{}
		refused, rpcErrs int
		notSubmitted     int
		samples          []string
		pending          chan struct{}
		committedTxs     atomic.Int64 // txs in followed blocks
	)
	if cfg.maxPending > 0 && !paced {
		pending = make(chan struct{}, cfg.maxPending)
	}
	release := func(n int) {
		for ; pending != nil && n > 0; n-- {
			select {
			case <-pending:
			default:
			}
		}
	}
	sample := func(s string) {
		if len(samples) < 5 {
			samples = append(samples, s)
		}
	}

	// The follower polls node 0's abci_info: the height the app has
	// committed (FinalizeBlock and Commit done). The txs of every newly
	// committed block are committed as of that poll. During the phase it
	// reads only block metas (tx counts); which txs each block holds and
	// their result codes are read afterwards, so the nodes do not spend the
	// timed window encoding block_results for the benchmark.
	type seenBlock struct {
		height int64
		seen   time.Time
		numTxs int
	}
	var followed []seenBlock
	followErr := make(chan error, 1)
	fctx, stopFollow := context.WithCancel(ctx)
	defer stopFollow()
	go func() {
		last := startHeight
		for {
			info, err := rpcs[0].ABCIInfo(fctx)
			seen := time.Now()
			if err == nil && info.Response.LastBlockHeight > last {
				top := info.Response.LastBlockHeight
				for lo := last + 1; lo <= top; lo += 20 {
					hi := min(lo+19, top)
					bc, err := rpcs[0].BlockchainInfo(fctx, lo, hi)
					if err != nil {
						if fctx.Err() != nil {
							break
						}
						followErr <- fmt.Errorf("blockchain %d-%d: %w", lo, hi, err)
						return
					}
					metas := bc.BlockMetas
					sort.Slice(metas, func(i, j int) bool { return metas[i].Header.Height < metas[j].Header.Height })
					for _, bm := range metas {
						followed = append(followed, seenBlock{bm.Header.Height, seen, bm.NumTxs})
						committedTxs.Add(int64(bm.NumTxs))
						release(bm.NumTxs)
					}
					last = hi
				}
			} else if err != nil && fctx.Err() == nil && cfg.verbose {
				fmt.Fprintf(os.Stderr, "[%s] abci_info: %v\n", app, err)
			}
			if workersDone.Load() && committedTxs.Load() >= accepted.Load() {
				followErr <- nil
				return
			}
			select {
			case <-fctx.Done():
				followErr <- nil
				return
			case <-time.After(cfg.poll):
			}
		}
	}()

	// send submits lane a's k-th tx of the phase; false once the lane is
	// dead (a refusal or an RPC error: its later nonces could only fail).
	send := func(a, k int, raw []byte, left int) bool {
		r := recs[a][k]
		r.submit = time.Now()
		out, err := rpcs[w.lanes[a].node].BroadcastTxSync(ctx, raw)
		r.ret = time.Now()
		switch {
		case err != nil:
			release(1)
			if ctx.Err() != nil {
				r.submit = time.Time{}
				return false
			}
			mu.Lock()
			rpcErrs++
			notSubmitted += left
			sample(fmt.Sprintf("lane %d tx %d: broadcast: %v", a, k, err))
			mu.Unlock()
			return false
		case out.Code != 0:
			release(1)
			mu.Lock()
			refused++
			refusedCodes[out.Code]++
			notSubmitted += left
			sample(fmt.Sprintf("lane %d tx %d: CheckTx code %d: %s", a, k, out.Code, out.Log))
			mu.Unlock()
			return false
		}
		r.accepted = true
		accepted.Add(1)
		return true
	}

	cpu0 := cpu.Read()
	var wg sync.WaitGroup
	if paced {
		res.OfferedRate = spec.rate
		start := time.Now().Add(50 * time.Millisecond)
		n := len(w.lanes)
		for a := range w.lanes {
			wg.Add(1)
			go func(a int) {
				defer wg.Done()
				txs := w.txs(app, a, p)
				for k, raw := range txs {
					// Global slot k*n+a of a schedule at cfg.rate.
					at := start.Add(time.Duration(float64(k*n+a) / spec.rate * float64(time.Second)))
					select {
					case <-time.After(time.Until(at)):
					case <-ctx.Done():
						return
					}
					if !send(a, k, raw, len(txs)-k-1) {
						return
					}
				}
			}(a)
		}
	} else {
		// Worker k owns lanes k, k+c, k+2c, … and sends them round-robin,
		// each lane in nonce order, one broadcast_tx_sync at a time.
		conc := min(cfg.concurrency, len(w.lanes))
		for k := 0; k < conc; k++ {
			wg.Add(1)
			go func(k int) {
				defer wg.Done()
				var mine []int
				for a := k; a < len(w.lanes); a += conc {
					mine = append(mine, a)
				}
				dead := map[int]bool{}
				for round := 0; ; round++ {
					more := false
					for _, a := range mine {
						txs := w.txs(app, a, p)
						if round >= len(txs) || dead[a] {
							continue
						}
						more = true
						if pending != nil {
							select {
							case pending <- struct{}{}:
							case <-ctx.Done():
								return
							}
						}
						if ctx.Err() != nil {
							return
						}
						if !send(a, round, txs[round], len(txs)-round-1) {
							dead[a] = true
						}
					}
					if !more {
						return
					}
				}
			}(k)
		}
	}
	wg.Wait()
	workersDone.Store(true)
	ferr := <-followErr
	stopFollow()
	res.CPU = cpu.Read().Since(cpu0, runtime.NumCPU())
	if ferr != nil {
		return nil, fmt.Errorf("follow blocks: %w", ferr)
	}
	if ctx.Err() != nil {
		sample(fmt.Sprintf("phase stopped (%v) with %d txs seen in blocks of %d accepted", context.Cause(ctx), committedTxs.Load(), accepted.Load()))
	}

	if hold != nil {
		select {
		case <-hold:
		case <-outer.Done():
		}
	}

	// After the phase (not timed): which tx is in which block, and its code.
	blocks := make([]blockInfo, 0, len(followed))
	octx, cancel := context.WithTimeout(outer, 2*time.Minute)
	defer cancel()
	for _, fb := range followed {
		h := fb.height
		blk, err := rpcs[0].Block(octx, &h)
		if err != nil {
			return nil, fmt.Errorf("block %d: %w", h, err)
		}
		br, err := rpcs[0].BlockResults(octx, &h)
		if err != nil {
			return nil, fmt.Errorf("block_results %d: %w", h, err)
		}
		cm, err := rpcs[0].Commit(octx, &h)
		if err != nil {
			return nil, fmt.Errorf("commit %d: %w", h, err)
		}
		bi := blockInfo{height: h, time: blk.Block.Time, seen: fb.seen, txs: len(blk.Block.Txs), round: cm.Commit.Round}
		for i, t := range blk.Block.Txs {
			r := index[sha256.Sum256(t)]
			if r == nil {
				res.OtherTxs++
				continue
			}
			bi.bench++
			if r.height != 0 {
				continue
			}
			r.commit, r.height = fb.seen, h
			if i < len(br.TxsResults) {
				r.code = br.TxsResults[i].Code
			}
		}
		blocks = append(blocks, bi)
	}

	// Figures.
	res.Refused, res.RefusedCodes, res.SubmitErrors, res.NotSubmitted, res.Samples = refused, refusedCodes, rpcErrs, notSubmitted, samples
	var first, lastRet, lastCommit time.Time
	var lat, rtt []time.Duration
	for a := range recs {
		for _, r := range recs[a] {
			if r.submit.IsZero() {
				continue
			}
			if first.IsZero() || r.submit.Before(first) {
				first = r.submit
			}
			if r.ret.After(lastRet) {
				lastRet = r.ret
			}
			rtt = append(rtt, r.ret.Sub(r.submit))
			if r.accepted {
				res.Accepted++
			}
			switch {
			case r.height == 0:
				if r.accepted {
					res.Missing++
				}
			case r.code != 0:
				res.FailedBlock++
			default:
				res.CommittedOK++
				lat = append(lat, r.commit.Sub(r.submit))
				if r.commit.After(lastCommit) {
					lastCommit = r.commit
				}
			}
		}
	}
	if res.FailedBlock > 0 {
		res.Samples = append(res.Samples, fmt.Sprintf("%d txs failed in their block (non-zero code in block_results)", res.FailedBlock))
	}
	if res.Missing > 0 {
		res.Samples = append(res.Samples, fmt.Sprintf("%d accepted txs were never seen committed", res.Missing))
	}
	if !lastRet.IsZero() {
		res.SubmitSeconds = lastRet.Sub(first).Seconds()
		res.SubmitRate = float64(len(rtt)) / res.SubmitSeconds
	}
	if !lastCommit.IsZero() {
		res.Seconds = lastCommit.Sub(first).Seconds()
		res.TPS = float64(res.CommittedOK) / res.Seconds
	}
	res.LatMeanMs, res.LatP50Ms, res.LatP90Ms, res.LatP99Ms, res.LatMaxMs = stats(lat)
	_, res.CheckP50, _, res.CheckP99, _ = stats(rtt)

	// Blocks from the first to the last that carried a tx of the phase.
	lo, hi := -1, -1
	for i, b := range blocks {
		if b.bench > 0 {
			if lo < 0 {
				lo = i
			}
			hi = i
		}
	}
	if lo >= 0 {
		span := blocks[lo : hi+1]
		res.Blocks = len(span)
		sum := 0
		for _, b := range span {
			sum += b.bench
			res.MaxTxsPerBlock = max(res.MaxTxsPerBlock, b.bench)
			if b.round > 0 {
				res.LateRounds++
			}
			res.BlockLog = append(res.BlockLog, blockRow{Height: b.height, Txs: b.bench, Round: b.round,
				SeenMs: ms(b.seen.Sub(first)), TimeMs: ms(b.time.Sub(first))})
		}
		res.MeanTxsPerBlock = float64(sum) / float64(len(span))
		if len(span) > 1 {
			res.MeanIntervalMs = ms(span[len(span)-1].time.Sub(span[0].time)) / float64(len(span)-1)
		}
	}
	return res, nil
}

// stats returns mean, p50, p90, p99 and max in milliseconds (nearest rank).
func stats(d []time.Duration) (mean, p50, p90, p99, mx float64) {
	if len(d) == 0 {
		return
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	rank := func(p float64) float64 {
		i := int(p*float64(len(d))+0.999999) - 1
		return ms(d[min(max(i, 0), len(d)-1)])
	}
	return ms(sum) / float64(len(d)), rank(0.50), rank(0.90), rank(0.99), ms(d[len(d)-1])
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}

// fetchProfile takes a CPU profile of node 0 through CometBFT's pprof server.
func fetchProfile(ctx context.Context, addr string, seconds int, path string) error {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr, seconds)
	var resp *http.Response
	var err error
	for i := 0; i < 20; i++ { // the pprof server starts with the node
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err = http.DefaultClient.Do(req); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("%s: %s: %s", url, resp.Status, b)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// dumpLogs prints the end of every node's log (after a failure).
func dumpLogs(cl *localnet.Cluster, n int, logf func(string, ...any)) {
	for i := 0; i < n; i++ {
		raw, err := os.ReadFile(cl.LogPath(i))
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimRight(string(raw), "\n"), "\n")
		if len(lines) > 15 {
			lines = lines[len(lines)-15:]
		}
		logf("--- node %d log (last %d lines of %s)\n%s", i, len(lines), cl.LogPath(i), strings.Join(lines, "\n"))
	}
}
