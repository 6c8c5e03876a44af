package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/crypto/merkle"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/cometbft/cometbft/mempool"
	"github.com/cometbft/cometbft/proxy"
	sm "github.com/cometbft/cometbft/state"
	"github.com/cometbft/cometbft/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/contracts"
)

// Options configure Replay.
type Options struct {
	// From is the first height to replay: 0 or the genesis initial height.
	// A fresh state can only be built from genesis, so nothing else is
	// accepted.
	From int64
	// To is the last height to replay; 0 means the source's last block.
	To int64
	// Progress receives a progress line every ProgressBlocks blocks or
	// ProgressEvery, whichever comes first; nil means none.
	Progress       io.Writer
	ProgressBlocks int64         // 0 = 1000
	ProgressEvery  time.Duration // 0 = 5 s
	// TempDir is where the fresh state is built and deleted afterwards;
	// "" = the system's temporary folder.
	TempDir string
	// Prefetch is how many blocks are read ahead of execution; 0 = 64.
	Prefetch int
	// Observer, if set, sees every replayed block's txs and FinalizeBlock
	// answer, and the replayed state once every height passed (the audit
	// report is built this way). nil: nothing is observed.
	Observer Observer

	// afterFinalize, when a test sets it, runs between a block's
	// FinalizeBlock and its Commit, on the replay's own state store: the
	// tamper tests use it to build a state that differs from honest.
	afterFinalize func(height int64, st *store.Store) error
	// beforeFinalize is the same, run just before FinalizeBlock: a change
	// there is one the app hash FinalizeBlock returns carries.
	beforeFinalize func(height int64, st *store.Store) error
	// stateDir, when a test sets it, is where the replay's state is built
	// and left (instead of a temporary folder).
	stateDir string
}

// Observer sees what a replay executes, from the replay's goroutine.
type Observer interface {
	// Block is called after FinalizeBlock of block height with the block's
	// txs and the app's answer (tx results, events). The answer is checked
	// against the next header only afterwards: if Replay then returns a
	// failure, what the observer gathered must be discarded.
	Block(height int64, txs [][]byte, res *abcitypes.ResponseFinalizeBlock)
	// Final is called once, when every height passed, with the replayed
	// state; its error is Replay's.
	Final(st *FinalState) error
}

// FinalState is the replay's own state after its last height, which no
// node computed: a read-only contracts.Reader over it, proofs of its keys,
// and the validator set the replay derived for the next height (from
// genesis and the app's updates). It is valid only during Observer.Final.
type FinalState struct {
	Height     int64
	Validators *types.ValidatorSet
	st         *store.Store
}

var _ contracts.Reader = (*FinalState)(nil)

// Get returns key's value at Height, nil if absent.
func (f *FinalState) Get(key []byte) ([]byte, error) { return f.st.GetAt(f.Height, key) }

// Iterator ranges over the state at Height.
func (f *FinalState) Iterator(start, end []byte, ascending bool) (contracts.Iterator, error) {
	it, err := f.st.IteratorAt(f.Height, start, end, ascending)
	if err != nil {
		return nil, err
	}
	return it, nil
}

// Prove returns key's value at Height with an ICS23 proof against the
// app hash of Height (nil value: a proof of absence).
func (f *FinalState) Prove(key []byte) ([]byte, *ics23.CommitmentProof, error) {
	return f.st.ProveAt(f.Height, key)
}

// ReplayReport is what a replay found.
type ReplayReport struct {
	ChainID string `json:"chain_id"`
	// From and To are the heights replayed; Heights of them passed every
	// check (To-From+1 on an honest chain).
	From    int64 `json:"from"`
	To      int64 `json:"to"`
	Heights int64 `json:"heights_checked"`
	Txs     int64 `json:"txs"`
	// AppHash is the replayed app hash after the last height that passed.
	AppHash string `json:"app_hash,omitempty"`
	// LastCheckedBy says what the last height's app hash was compared with:
	// "header H+1", a witness (the home's state, the node's app), or
	// "nothing" when the source had neither.
	LastCheckedBy   string        `json:"last_checked_by"`
	Elapsed         time.Duration `json:"elapsed_ns"`
	BlocksPerSecond float64       `json:"blocks_per_second"`
	TxsPerSecond    float64       `json:"txs_per_second"`
	// Failure is the first thing found wrong; nil on an honest chain.
	Failure *Failure `json:"failure,omitempty"`
}

// FailureKind classifies what a replay found wrong.
type FailureKind string

const (
	// Unreadable: a block is missing (truncated store), does not decode or
	// is inconsistent with its stored id (corrupt store).
	Unreadable FailureKind = "unreadable"
	// TamperedBlock: a block's txs do not match its data hash, it does not
	// hash-chain to the next block, or it is not valid for the chain
	// (signatures, validator set, time...).
	TamperedBlock FailureKind = "tampered-block"
	// AppHashMismatch: re-executing the height gives another app hash (or
	// other tx results) than the next header commits.
	AppHashMismatch FailureKind = "app-hash-mismatch"
	// StateDisagrees: the node's own state (the home's, or its app's) at
	// its last height is not the replay's.
	StateDisagrees FailureKind = "state-disagrees"
)

// Failure is the first height at which the chain copy fails the audit.
type Failure struct {
	Kind FailureKind `json:"kind"`
	// Height is the first bad height (0 for the genesis state).
	Height int64 `json:"height"`
	// Tx is the index of the tx found altered in the block, -1 if none is
	// named.
	Tx     int    `json:"tx"`
	Reason string `json:"reason"`
}

func (f *Failure) Error() string {
	if f.Tx >= 0 {
		return fmt.Sprintf("height %d, tx %d: %s", f.Height, f.Tx, f.Reason)
	}
	return fmt.Sprintf("height %d: %s", f.Height, f.Reason)
}

// Replay re-executes the chain src holds from genesis on a fresh state in a
// temporary folder, as CometBFT does (InitChain as the handshake sends it,
// then per block the full validation and FinalizeBlock/Commit of CometBFT's
// own block executor, with the validator set tracked from the app's
// updates), and checks every height. It returns the report; when the chain
// fails the audit the error is the report's *Failure. Any other error means
// the replay could not run (bad options, unreadable genesis, cancelled).
func Replay(ctx context.Context, src Source, o Options) (*ReplayReport, error) {
	doc, err := src.Genesis(ctx)
	if err != nil {
		return nil, err
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("genesis: %w", err)
	}
	base, last, err := src.Heights(ctx)
	if err != nil {
		return nil, err
	}
	initial := doc.InitialHeight
	if o.From != 0 && o.From != initial {
		return nil, fmt.Errorf("--from %d: a replay builds its state from genesis, so it starts at the initial height %d; use --to to stop early", o.From, initial)
	}
	switch {
	case last < initial:
		return nil, fmt.Errorf("the source holds no block (its last height is %d, the chain starts at %d)", last, initial)
	case base > initial:
		return nil, fmt.Errorf("the source's blocks start at height %d (pruned), a replay needs every block from %d", base, initial)
	}
	to := o.To
	if to == 0 {
		to = last
	}
	if to < initial || to > last {
		return nil, fmt.Errorf("--to %d: the source holds heights %d to %d", to, initial, last)
	}
	r, err := newReplayer(ctx, doc, o)
	if err != nil {
		return nil, err
	}
	defer r.close()
	rep := &ReplayReport{ChainID: doc.ChainID, From: initial, To: to}
	start := time.Now()
	err = r.run(ctx, src, rep, last)
	if err == nil && o.Observer != nil {
		err = o.Observer.Final(&FinalState{Height: r.state.LastBlockHeight, Validators: r.state.Validators.Copy(), st: r.st})
	}
	rep.Elapsed = time.Since(start)
	if s := rep.Elapsed.Seconds(); s > 0 {
		rep.BlocksPerSecond = float64(rep.Heights) / s
		rep.TxsPerSecond = float64(rep.Txs) / s
	}
	var f *Failure
	if errors.As(err, &f) {
		rep.Failure = f
	}
	return rep, err
}

// replayer holds the fresh state a replay builds.
type replayer struct {
	opts  Options
	doc   *types.GenesisDoc
	tmp   string
	st    *store.Store
	conns proxy.AppConns
	exec  *sm.BlockExecutor
	state sm.State
}

func newReplayer(ctx context.Context, doc *types.GenesisDoc, o Options) (*replayer, error) {
	tmp, err := os.MkdirTemp(o.TempDir, "medchain-audit-")
	if err != nil {
		return nil, fmt.Errorf("create the replay's temporary state folder: %w", err)
	}
	r := &replayer{opts: o, doc: doc, tmp: tmp}
	// The replay never reads old versions: keep a few, so a long chain does
	// not fill the disk.
	dir := filepath.Join(tmp, "state")
	if o.stateDir != "" {
		dir = o.stateDir
	}
	r.st, err = store.Open(store.Options{Dir: dir, KeepRecent: 4, InitialHeight: doc.InitialHeight})
	if err != nil {
		r.close()
		return nil, fmt.Errorf("open the replay's state: %w", err)
	}
	app := abci.New(doc.ChainID, r.st, nil)
	var client abcitypes.Application = app
	if o.afterFinalize != nil || o.beforeFinalize != nil || o.Observer != nil {
		client = &hookedApp{App: app, st: r.st, before: o.beforeFinalize, after: o.afterFinalize, observer: o.Observer}
	}
	r.conns = proxy.NewAppConns(proxy.NewLocalClientCreator(client), proxy.NopMetrics())
	r.conns.SetLogger(log.NewNopLogger())
	if err := r.conns.Start(); err != nil {
		r.close()
		return nil, fmt.Errorf("start the replay's app: %w", err)
	}
	if err := r.initChain(ctx); err != nil {
		r.close()
		return nil, err
	}
	return r, nil
}

// initChain sends InitChain exactly as CometBFT's handshake builds it and
// updates the genesis state with the answer the same way.
func (r *replayer) initChain(ctx context.Context) error {
	state, err := sm.MakeGenesisState(r.doc)
	if err != nil {
		return fmt.Errorf("genesis: %w", err)
	}
	// The handshake first asks the app its protocol version, which blocks
	// then carry in their headers.
	info, err := r.conns.Query().Info(ctx, proxy.RequestInfo)
	if err != nil {
		return fmt.Errorf("the replay's app: Info: %w", err)
	}
	state.Version.Consensus.App = info.AppVersion
	vals := make([]*types.Validator, len(r.doc.Validators))
	for i, v := range r.doc.Validators {
		vals[i] = types.NewValidator(v.PubKey, v.Power)
	}
	params := r.doc.ConsensusParams.ToProto()
	res, err := r.conns.Consensus().InitChain(ctx, &abcitypes.RequestInitChain{
		Time: r.doc.GenesisTime, ChainId: r.doc.ChainID, InitialHeight: r.doc.InitialHeight,
		ConsensusParams: &params, Validators: types.TM2PB.ValidatorUpdates(types.NewValidatorSet(vals)),
		AppStateBytes: r.doc.AppState,
	})
	if err != nil {
		return &Failure{Kind: AppHashMismatch, Height: 0, Tx: -1, Reason: fmt.Sprintf("the genesis state: InitChain refuses the genesis: %v", err)}
	}
	if len(res.AppHash) > 0 {
		state.AppHash = res.AppHash
	}
	if len(res.Validators) > 0 {
		vs, err := types.PB2TM.ValidatorUpdates(res.Validators)
		if err != nil {
			return fmt.Errorf("InitChain's validators: %w", err)
		}
		state.Validators = types.NewValidatorSet(vs)
		state.NextValidators = types.NewValidatorSet(vs).CopyIncrementProposerPriority(1)
	}
	if res.ConsensusParams != nil {
		state.ConsensusParams = state.ConsensusParams.Update(res.ConsensusParams)
		state.Version.Consensus.App = state.ConsensusParams.Version.App
	}
	state.LastResultsHash = merkle.HashFromByteSlices(nil)
	// Only the last ABCI responses are kept: the replay never reads older.
	stateStore := sm.NewStore(dbm.NewMemDB(), sm.StoreOptions{DiscardABCIResponses: true})
	if err := stateStore.Save(state); err != nil {
		return fmt.Errorf("save the replay's genesis state: %w", err)
	}
	r.state = state
	r.exec = sm.NewBlockExecutor(stateStore, log.NewNopLogger(), r.conns.Consensus(), &mempool.NopMempool{}, sm.EmptyEvidencePool{}, nil)
	return nil
}

func (r *replayer) close() {
	if r.conns != nil {
		_ = r.conns.Stop()
	}
	if r.st != nil {
		_ = r.st.Close()
	}
	_ = os.RemoveAll(r.tmp)
}

// fetched is one block read ahead, or why it could not be.
type fetched struct {
	height int64
	blk    *types.Block
	id     types.BlockID
	err    error
}

// prefetch reads heights from..to in order into the returned channel, which
// it closes at the end, after an error, or when ctx is done.
func prefetch(ctx context.Context, src Source, from, to int64, depth int) <-chan fetched {
	out := make(chan fetched, depth)
	go func() {
		defer close(out)
		for h := from; h <= to; h++ {
			blk, id, err := safeBlock(ctx, src, h)
			select {
			case out <- fetched{height: h, blk: blk, id: id, err: err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	}()
	return out
}

// safeBlock is src.Block with a panic in a decoder turned into an
// *UnreadableError: hostile bytes must not take the auditor's process down.
func safeBlock(ctx context.Context, src Source, h int64) (blk *types.Block, id types.BlockID, err error) {
	defer func() {
		if p := recover(); p != nil {
			blk, err = nil, &UnreadableError{Height: h, Reason: fmt.Sprintf("the block cannot be decoded: %v", p)}
		}
	}()
	return src.Block(ctx, h)
}

// run replays from the initial height to rep.To; last is the source's last
// height when the replay began.
func (r *replayer) run(ctx context.Context, src Source, rep *ReplayReport, last int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// The witness is read before the replay, so a node that keeps running
	// (RPC) is compared at the height it had then.
	var wit struct {
		height int64
		hash   []byte
		found  bool
		name   string
	}
	if w, ok := src.(StateWitness); ok {
		h, hash, found, err := w.AppState(ctx)
		if err != nil {
			return err
		}
		wit.height, wit.hash, wit.found, wit.name = h, hash, found, w.Describe()
		if _, home := src.(*Home); home && found && h > last {
			return &Failure{Kind: StateDisagrees, Height: h, Tx: -1, Reason: fmt.Sprintf("%s is at height %d, above its block store's last block %d: the block store was truncated, or the state written past it (a node commits a block's state only after storing the block)", wit.name, h, last)}
		}
	}
	depth := r.opts.Prefetch
	if depth <= 0 {
		depth = 64
	}
	blocks := prefetch(ctx, src, rep.From, min(rep.To+1, last), depth)
	next, ok := <-blocks
	if !ok {
		return ctx.Err()
	}
	prog := newProgress(r.opts, rep)
	fetchTo := min(rep.To+1, last)
	for h := rep.From; h <= rep.To; h++ {
		cur := next
		if cur.err != nil {
			return asUnreadable(cur.err, h)
		}
		next = fetched{}
		if h+1 <= fetchTo {
			if next, ok = <-blocks; !ok {
				if err := ctx.Err(); err != nil {
					return err
				}
				return fmt.Errorf("height %d: the block reader stopped early", h+1)
			}
		}
		if h == rep.To && next.blk == nil && next.err == nil {
			// A running node may have committed block To+1 by now.
			if _, l, err := src.Heights(ctx); err == nil && l > rep.To {
				next.blk, next.id, next.err = safeBlock(ctx, src, rep.To+1)
			}
		}
		if err := r.step(ctx, src, cur, next); err != nil {
			return err
		}
		rep.Heights++
		rep.Txs += int64(len(cur.blk.Txs))
		rep.AppHash = fmt.Sprintf("%X", r.state.AppHash)
		if h == rep.To {
			rep.LastCheckedBy = "nothing"
			if next.blk != nil && next.err == nil {
				rep.LastCheckedBy = "header " + strconv.FormatInt(h+1, 10)
			}
		}
		if wit.found && wit.height == h {
			if !bytes.Equal(wit.hash, r.state.AppHash) {
				return &Failure{Kind: StateDisagrees, Height: h, Tx: -1, Reason: fmt.Sprintf("%s at height %d disagrees with the replay: it has app hash %X, the replay %X", wit.name, h, wit.hash, r.state.AppHash)}
			}
			if h == rep.To && rep.LastCheckedBy == "nothing" {
				rep.LastCheckedBy = wit.name
			}
		}
		prog.tick(h)
	}
	prog.done()
	return nil
}

func asUnreadable(err error, h int64) error {
	var ue *UnreadableError
	if errors.As(err, &ue) {
		return &Failure{Kind: Unreadable, Height: ue.Height, Tx: -1, Reason: ue.Reason}
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	return &Failure{Kind: Unreadable, Height: h, Tx: -1, Reason: err.Error()}
}

// step checks and executes block cur (height h); next is block h+1 if the
// source has it (its header commits h's app hash and results and names h's
// id).
func (r *replayer) step(ctx context.Context, src Source, cur, next fetched) (err error) {
	h := cur.height
	defer func() {
		if p := recover(); p != nil {
			err = &Failure{Kind: TamperedBlock, Height: h, Tx: -1, Reason: fmt.Sprintf("executing the block panicked (%v): the block is malformed", p)}
		}
	}()
	blk := cur.blk
	if want := blk.Txs.Hash(); !bytes.Equal(blk.DataHash, want) {
		return &Failure{Kind: TamperedBlock, Height: h, Tx: r.alteredTx(ctx, src, blk), Reason: "the block's data hash does not match its txs" + r.txHint(ctx, src, blk)}
	}
	if h == r.doc.InitialHeight && !bytes.Equal(blk.AppHash, r.state.AppHash) {
		return &Failure{Kind: AppHashMismatch, Height: 0, Tx: -1, Reason: fmt.Sprintf("the genesis state: InitChain gives app hash %X, block %d's header commits %X", r.state.AppHash, h, []byte(blk.AppHash))}
	}
	if next.blk != nil && next.err == nil && !next.blk.LastBlockID.Equals(cur.id) {
		return &Failure{Kind: TamperedBlock, Height: h, Tx: -1, Reason: fmt.Sprintf("the block's id %v is not the one block %d names as its previous (%v): block %d was altered after it was committed, or block %d does not follow it", cur.id, h+1, next.blk.LastBlockID, h, h+1)}
	}
	state, err := r.exec.ApplyBlock(r.state, cur.id, blk)
	if err != nil {
		var invalid sm.ErrInvalidBlock
		if errors.As(err, &invalid) {
			return &Failure{Kind: TamperedBlock, Height: h, Tx: -1, Reason: "the block is not valid for this chain: " + err.Error()}
		}
		return &Failure{Kind: AppHashMismatch, Height: h, Tx: -1, Reason: "the replay cannot execute the block: " + err.Error()}
	}
	r.state = state
	if next.blk == nil || next.err != nil {
		// An unreadable block h+1 is reported at the next step.
		return nil
	}
	// Block h+1's LastCommit must be the validators' signatures on block h
	// (ApplyBlock checks it again at h+1; here it is named at h, and the
	// last height of a replay gets it too).
	if err := state.LastValidators.VerifyCommit(r.doc.ChainID, cur.id, h, next.blk.LastCommit); err != nil {
		return &Failure{Kind: TamperedBlock, Height: h, Tx: -1, Reason: fmt.Sprintf("block %d's commit does not carry the validators' signatures on this block: %v", h+1, err)}
	}
	if !bytes.Equal(next.blk.AppHash, state.AppHash) {
		return &Failure{Kind: AppHashMismatch, Height: h, Tx: -1, Reason: fmt.Sprintf("re-executing the block (%d txs) gives app hash %X, block %d's header commits %X", len(blk.Txs), state.AppHash, h+1, []byte(next.blk.AppHash))}
	}
	if !bytes.Equal(next.blk.LastResultsHash, state.LastResultsHash) {
		return &Failure{Kind: AppHashMismatch, Height: h, Tx: -1, Reason: fmt.Sprintf("re-executing the block (%d txs) gives other tx results (hash %X) than block %d's header commits (%X)", len(blk.Txs), state.LastResultsHash, h+1, []byte(next.blk.LastResultsHash))}
	}
	return nil
}

// alteredTx names the first tx of blk that the source's tx index does not
// know at its place (-1 if the source has no index or all are known).
func (r *replayer) alteredTx(ctx context.Context, src Source, blk *types.Block) int {
	loc, ok := src.(TxLocator)
	if !ok {
		return -1
	}
	for i, tx := range blk.Txs {
		h, idx, found, err := loc.TxPosition(ctx, tx.Hash())
		if err != nil {
			return -1
		}
		if !found || h != blk.Height || idx != uint32(i) {
			return i
		}
	}
	return -1
}

func (r *replayer) txHint(ctx context.Context, src Source, blk *types.Block) string {
	if r.alteredTx(ctx, src, blk) >= 0 {
		return " (this tx is not the one the node's tx index recorded at this place)"
	}
	return fmt.Sprintf(" (%d txs; no tx index tells which was altered)", len(blk.Txs))
}

// hookedApp lets a test change the replay's state just before
// FinalizeBlock or between FinalizeBlock and Commit.
type hookedApp struct {
	*abci.App
	st            *store.Store
	before, after func(int64, *store.Store) error
	observer      Observer
	h             int64
}

func (a *hookedApp) FinalizeBlock(ctx context.Context, req *abcitypes.RequestFinalizeBlock) (*abcitypes.ResponseFinalizeBlock, error) {
	a.h = req.Height
	if a.before != nil {
		if err := a.before(a.h, a.st); err != nil {
			return nil, err
		}
	}
	res, err := a.App.FinalizeBlock(ctx, req)
	if err == nil && a.observer != nil {
		a.observer.Block(req.Height, req.Txs, res)
	}
	return res, err
}

func (a *hookedApp) Commit(ctx context.Context, req *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	if a.after != nil {
		if err := a.after(a.h, a.st); err != nil {
			return nil, err
		}
	}
	return a.App.Commit(ctx, req)
}

func itoa(h int64) string { return strconv.FormatInt(h, 10) }
