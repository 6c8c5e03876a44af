package hework

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"sync"
	"time"

	"github.com/cometbft/cometbft/libs/log"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/keyring"
)

// Secrets is where the worker keeps what it generates: a keyring
// (*keyring.Keyring), whose SealData never overwrites.
type Secrets interface {
	SealData(name string, data []byte) error
	OpenData(name string) ([]byte, error)
	ListData() ([]string, error)
	DeleteData(name string) error
}

var _ Secrets = (*keyring.Keyring)(nil)

// Config configures a Worker. Every field but Wake, Poll and ResendAfter
// is required.
type Config struct {
	ChainID string
	Params  *he.Params
	// Operator signs the worker's txs. Seal is the keyring entry whose
	// 32-byte seed is the X25519 key other members seal their Shamir
	// shares to (node.SealKeyName; genesis holds its public half).
	Operator, Seal ed25519.PrivateKey
	Secrets        Secrets
	Chain          Chain
	Logger         log.Logger
	// Wake receives a value after each new block (chainrpc.WatchBlocks); the worker
	// also checks every Poll (default 2 s) in case a wake-up is lost.
	Wake <-chan struct{}
	Poll time.Duration
	// ResendAfter is how many blocks a sent tx may stay uncommitted before
	// the worker sends it again (same payload, current nonce); default 10.
	ResendAfter int64
	// Contributor, if set, answers research queries (see researchDuty).
	Contributor Contributor
}

// Worker carries out one member's duties in the ceremony of every key
// epoch it is a member of, in the decryption requests and in the research
// queries, one at a time, each time a block is committed. A hospital that
// is not (or no longer) a member waits quietly. Errors are logged and
// retried on a later block with back-off; the worker never stops the node.
type Worker struct {
	cfg     Config
	log     log.Logger
	addr    string
	sealPub [32]byte
	// sealPriv is the X25519 private key (the seal key's seed).
	sealPriv [32]byte

	// Membership, re-read from /hospitals once per block (refreshMembership).
	member   uint64            // own member index while a member; 0 otherwise
	status   *membership       // the membership last logged; nil before the first read
	seals    map[uint64][]byte // member index → X25519 seal key, from the same read
	memberAt int64             // the height of that read

	// Key epochs found open on chain: 1…lastEpoch, with their fixed
	// members (discoverEpochs).
	lastEpoch uint64
	epochs    map[uint64]epochInfo

	// Loaded or computed state, cached for the life of the process.
	thresholds map[uint64]*he.ThresholdSecret // by key epoch
	ceremonies map[uint64]*ceremony
	ksShares   map[uint64]*pb.PostKeySwitchShare // by request id
	// contributions are computed answers to research queries, by query id.
	contributions map[uint64]*pb.Contribute

	height    int64
	inflight  map[string]*inflight
	backoff   map[string]*backoff
	nonceHint uint64 // the nonce after the last tx this worker sent
	lastPrune int64
	// holdShares is the fault hook FaultHoldSharesEnv.
	holdShares bool

	cancel context.CancelFunc
	done   chan struct{}
	once   sync.Once
}

// inflight is a tx sent and not yet seen committed.
type inflight struct {
	hash   []byte
	height int64
	nonce  uint64
}

// backoff delays a failing duty: 1, 2, 4 … 64 blocks.
type backoff struct {
	until int64
	delay int64
}

const maxBackoffBlocks = 64

// New checks cfg and returns a Worker (not started).
func New(cfg Config) (*Worker, error) {
	switch {
	case cfg.ChainID == "":
		return nil, errors.New("hework: no chain id")
	case cfg.Params == nil:
		return nil, errors.New("hework: no HE parameters")
	case len(cfg.Operator) != ed25519.PrivateKeySize || len(cfg.Seal) != ed25519.PrivateKeySize:
		return nil, errors.New("hework: operator and seal keys are required")
	case cfg.Secrets == nil || cfg.Chain == nil || cfg.Logger == nil:
		return nil, errors.New("hework: secrets, chain and logger are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 2 * time.Second
	}
	if cfg.ResendAfter <= 0 {
		cfg.ResendAfter = 10
	}
	w := &Worker{
		cfg:           cfg,
		log:           cfg.Logger,
		addr:          pb.AddressOf(cfg.Operator.Public().(ed25519.PublicKey)),
		epochs:        map[uint64]epochInfo{},
		thresholds:    map[uint64]*he.ThresholdSecret{},
		ceremonies:    map[uint64]*ceremony{},
		ksShares:      map[uint64]*pb.PostKeySwitchShare{},
		contributions: map[uint64]*pb.Contribute{},
		inflight:      map[string]*inflight{},
		backoff:       map[string]*backoff{},
		holdShares:    os.Getenv(FaultHoldSharesEnv) != "",
	}
	var err error
	w.sealPriv, w.sealPub, err = sealKeyPair(cfg.Seal)
	if err != nil {
		return nil, err
	}
	return w, nil
}

// FaultHoldSharesEnv names a fault-injection hook for end-to-end tests, in
// the manner of CometBFT's FAIL_TEST_INDEX: when set (non-empty) in a
// node's environment, its worker never posts a share for a decryption
// request. The node stays a live validator, so the chain still puts it in
// active sets; a test can then kill it after a request fixed its set, and
// know it posted nothing. Never set it in production.
const FaultHoldSharesEnv = "MEDCHAIN_FAULT_HOLD_KS_SHARES"

// FaultNoResearchEnv is a test hook like FaultHoldSharesEnv: when set, the
// worker contributes to no research query, so a test can play the
// hospital itself with contributions whose figures it chose.
const FaultNoResearchEnv = "MEDCHAIN_FAULT_NO_RESEARCH"

// Start runs the worker in its own goroutine until Stop.
func (w *Worker) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	w.log.Info("HE worker started", "operator", w.addr, "seal_pubkey", shortHash(w.sealPub[:]))
	go func() {
		defer close(w.done)
		w.run(ctx)
	}()
}

// Stop stops the worker and waits for its current step to end. A step
// does not abandon a secret half-written: what it sealed is complete.
func (w *Worker) Stop() {
	w.once.Do(func() {
		if w.cancel == nil {
			return
		}
		w.cancel()
		<-w.done
		w.log.Info("HE worker stopped")
	})
}

func (w *Worker) run(ctx context.Context) {
	tick := time.NewTicker(w.cfg.Poll)
	defer tick.Stop()
	for {
		w.Step(ctx)
		select {
		case <-ctx.Done():
			return
		case <-w.cfg.Wake:
		case <-tick.C:
		}
	}
}

// Step checks every duty once against the latest committed state, in
// order: this hospital's membership, newly opened key epochs, the
// ceremony of each epoch it is a member of and has not combined (each
// epoch its own duty, with its own back-off), then the pending decryption
// requests and research queries. A hospital that is not a member runs
// none of the member duties. The worker's goroutine calls Step after each
// block; tests call it directly. It is not safe for concurrent use: after
// Start, only that goroutine calls it.
func (w *Worker) Step(ctx context.Context) {
	defer func() {
		// A bug here must not take the validator down with it.
		if r := recover(); r != nil {
			w.log.Error("HE worker bug (panic); retrying on a later block", "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		}
	}()
	h, err := w.cfg.Chain.Height(ctx)
	if err != nil {
		if ctx.Err() == nil {
			w.log.Error("HE worker: cannot read the chain height", "err", err)
		}
		return
	}
	if h == w.height && h > 0 && !w.anyDue() {
		return // nothing new since the last step
	}
	w.height = h
	w.duty(ctx, "membership", w.refreshMembership)
	w.duty(ctx, "epochs", w.discoverEpochs)
	if w.member != 0 {
		for _, e := range w.ceremonyEpochs() {
			w.duty(ctx, ceremonyDutyName(e), func(ctx context.Context) error { return w.ceremonyDuty(ctx, e) })
		}
		w.duty(ctx, "requests", w.requestsDuty)
		w.duty(ctx, "research", w.researchDuty)
	}
	if w.height-w.lastPrune >= pruneEvery {
		w.duty(ctx, "prune", w.prune)
	}
}

// ceremonyDutyName names the ceremony duty of key epoch e: each epoch
// backs off on its own.
func ceremonyDutyName(e uint64) string { return fmt.Sprintf("ceremony/%d", e) }

// anyDue reports whether a tx is still in flight, so that a poll without a
// new block still checks it.
func (w *Worker) anyDue() bool { return len(w.inflight) > 0 }

// duty runs fn unless it is backing off, and backs it off if it fails.
func (w *Worker) duty(ctx context.Context, name string, fn func(context.Context) error) {
	if ctx.Err() != nil {
		return
	}
	b := w.backoff[name]
	if b != nil && w.height < b.until {
		return
	}
	err := safely(ctx, fn)
	if err == nil {
		delete(w.backoff, name)
		return
	}
	if ctx.Err() != nil {
		return
	}
	if b == nil {
		b = &backoff{}
		w.backoff[name] = b
	}
	b.delay = min(max(2*b.delay, 1), maxBackoffBlocks)
	b.until = w.height + b.delay
	w.log.Error("HE worker duty failed; will retry", "duty", name, "err", err, "retry_in_blocks", b.delay)
}

// safely runs fn, turning a panic (a bug: inputs are validated before
// Lattigo sees them) into an error, so the duty backs off like any other.
func safely(ctx context.Context, fn func(context.Context) error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("HE worker bug (panic): %v\n%s", r, debug.Stack())
		}
	}()
	return fn(ctx)
}

var (
	codeNonceReplayed, _ = abci.CodeOf(abci.ErrNonceReplayed)
	codeNonceSkipped, _  = abci.CodeOf(abci.ErrNonceSkipped)
	codeExists           = existsCode()
)

func existsCode() uint32 {
	for _, e := range abci.Codes {
		if e.Name == "already_exists" {
			return e.Code
		}
	}
	return 0
}

// send makes sure payload (always the same bytes for a duty) reaches the
// chain: it signs it at the account's current nonce and broadcasts it,
// unless an earlier send is still in flight. done reports that the chain
// already holds what the duty sends (an "already_exists" refusal).
func (w *Worker) send(ctx context.Context, duty, txType string, payload proto.Message) (done bool, err error) {
	if f := w.inflight[duty]; f != nil {
		res, ok, err := w.cfg.Chain.TxResult(ctx, f.hash)
		if err != nil {
			// No tx index (tx_index.indexer = "null"): rely on state and
			// on ResendAfter alone.
			w.log.Debug("HE worker: cannot look up a sent tx", "tx", shortHash(f.hash), "err", err)
			ok = false
		}
		switch {
		case ok && res.Code == 0:
			// Committed; the state the caller reads catches up by the next block.
			delete(w.inflight, duty)
			return false, nil
		case ok && res.Code == codeExists:
			delete(w.inflight, duty)
			return true, nil
		case ok:
			delete(w.inflight, duty)
			w.log.Info("HE worker: tx refused in its block; sending the same payload again", "duty", duty,
				"tx", shortHash(f.hash), "height", res.Height, "code", res.Code, "log", res.Log)
			if res.Code != codeNonceReplayed && res.Code != codeNonceSkipped {
				return false, fmt.Errorf("%s tx %s refused in block %d: code %d: %s", txType, shortHash(f.hash), res.Height, res.Code, res.Log)
			}
		case w.height < f.height+w.cfg.ResendAfter:
			return false, nil // still waiting for it
		default:
			delete(w.inflight, duty)
			w.log.Info("HE worker: tx not committed in time; sending the same payload again", "duty", duty,
				"tx", shortHash(f.hash), "sent_at", f.height, "height", w.height)
		}
	}
	acc, err := chainrpc.QueryMessage[pb.Account](ctx, w.cfg.Chain, accountPath(w.addr))
	if err != nil {
		return false, err
	}
	if acc == nil {
		return false, fmt.Errorf("operator %s has no account on chain", w.addr)
	}
	nonce := max(acc.Sequence, w.nonceHint)
	for attempt := 0; attempt < 8; attempt++ {
		raw, err := tx.Build(w.cfg.Operator, w.cfg.ChainID, w.addr, nonce, txType, payload)
		if err != nil {
			return false, err
		}
		r, err := w.cfg.Chain.Broadcast(ctx, raw)
		if err != nil {
			return false, err
		}
		switch r.Code {
		case 0:
			w.inflight[duty] = &inflight{hash: r.Hash, height: w.height, nonce: nonce}
			w.nonceHint = nonce + 1
			w.log.Info("HE worker: tx sent", "duty", duty, "type", txType, "tx", shortHash(r.Hash),
				"nonce", nonce, "bytes", len(raw), "already_pending", r.InCache)
			return false, nil
		case codeNonceReplayed:
			nonce++ // a tx of ours (or the operator's) is ahead in the mempool
		case codeNonceSkipped:
			if acc, err = chainrpc.QueryMessage[pb.Account](ctx, w.cfg.Chain, accountPath(w.addr)); err != nil || acc == nil {
				return false, fmt.Errorf("re-read account %s: %v", w.addr, err)
			}
			nonce, w.nonceHint = acc.Sequence, 0
		case codeExists:
			return true, nil
		default:
			return false, fmt.Errorf("%s tx refused by CheckTx: code %d: %s", txType, r.Code, r.Log)
		}
	}
	return false, fmt.Errorf("%s tx: no nonce accepted after 8 tries (account sequence %d)", txType, acc.Sequence)
}
