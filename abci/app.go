package abci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/libs/log"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	cmttypes "github.com/cometbft/cometbft/types"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/genesis"
)

// Version is reported in Info.
const Version = "0.1.0"

// AppVersion is the state machine's protocol version; bump it on any change
// to what a block does to state.
const AppVersion uint64 = 1

// App is the medchain ABCI application.
type App struct {
	chainID string
	store   *store.Store
	router  *contracts.Router
	logger  log.Logger

	// mu guards the fields below. The node drives the app with one mutex
	// per ABCI connection (proxy.NewConnSyncLocalClientCreator), so
	// CheckTx, the block calls and Query may run at once: every method that
	// touches these fields holds mu; Query reads only committed versions
	// of the store.
	mu sync.Mutex
	// checkNonces is the next nonce CheckTx expects per signer, for txs still
	// in the mempool; it is reset at Commit and rebuilt by the recheck.
	checkNonces map[string]uint64
	// height of the block between FinalizeBlock and Commit; 0 outside.
	pendingHeight int64
	// initialHeight is the genesis initial_height: the first block's height.
	initialHeight int64
	// sigs remembers signatures already verified, so a tx's signature is
	// checked once per node rather than at CheckTx, every recheck,
	// PrepareProposal and FinalizeBlock.
	sigs *sigCache
}

var _ abcitypes.Application = (*App)(nil)

// New returns the app over an opened store. chainID must be the genesis
// chain id; the app refuses txs for any other chain.
func New(chainID string, st *store.Store, logger log.Logger) *App {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &App{
		chainID: chainID,
		store:   st,
		router:  contracts.NewRouter(slices.Concat(accounts.Handlers(), memo.Handlers(), hekeys.Handlers(), records.Handlers(), research.Handlers(), governance.Handlers())...),
		logger:  logger.With("module", "app"),

		checkNonces:   map[string]uint64{},
		initialHeight: 1,
		sigs:          newSigCache(sigCacheSize),
	}
}

// Info is called by CometBFT at start-up (the handshake) and by `abci_info`.
// It returns the last committed height and app hash, so CometBFT replays the
// blocks the app has not committed.
func (a *App) Info(_ context.Context, _ *abcitypes.RequestInfo) (*abcitypes.ResponseInfo, error) {
	h, hash := a.store.LastCommit()
	return &abcitypes.ResponseInfo{
		Data:             "medchain",
		Version:          Version,
		AppVersion:       AppVersion,
		LastBlockHeight:  h,
		LastBlockAppHash: hash,
	}, nil
}

// InitChain is called once, at the first start of a chain (height 0). It
// validates the genesis app_state against the genesis validators and writes
// the founding alliance into the working state; block 1 commits it.
func (a *App) InitChain(_ context.Context, req *abcitypes.RequestInitChain) (*abcitypes.ResponseInitChain, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.ChainId != a.chainID {
		return nil, fmt.Errorf("genesis chain id %q differs from the node's %q", req.ChainId, a.chainID)
	}
	s, err := genesis.ParseAppState(req.AppStateBytes)
	if err != nil {
		return nil, err
	}
	if err := matchValidators(s, req.Validators); err != nil {
		return nil, err
	}
	a.initialHeight = max(req.InitialHeight, 1)
	if err := accounts.InitGenesis(working{a.store}, s); err != nil {
		return nil, fmt.Errorf("write genesis state: %w", err)
	}
	if err := hekeys.InitGenesis(working{a.store}); err != nil {
		return nil, fmt.Errorf("open key epoch 1: %w", err)
	}
	a.logger.Info("genesis applied", "alliance", s.Alliance, "hospitals", len(s.Hospitals), "accounts", len(s.Accounts))
	return &abcitypes.ResponseInitChain{AppHash: a.store.WorkingHash()}, nil
}

// matchValidators checks that the CometBFT genesis validators are exactly the
// member hospitals' validator keys and powers.
func matchValidators(s *genesis.AppState, vals []abcitypes.ValidatorUpdate) error {
	want := map[string]int64{}
	for _, h := range s.Hospitals {
		want[string(h.ValidatorPubKey)] = h.Power
	}
	if len(vals) != len(want) {
		return fmt.Errorf("genesis has %d validators but %d member hospitals; every member runs exactly one validator", len(vals), len(want))
	}
	for _, v := range vals {
		pk := v.PubKey.GetEd25519()
		p, ok := want[string(pk)]
		if !ok {
			return fmt.Errorf("genesis validator %X is not the validator_pubkey of any member hospital, or is listed twice", pk)
		}
		if p != v.Power {
			return fmt.Errorf("genesis validator %X has power %d, its hospital says %d", pk, v.Power, p)
		}
		delete(want, string(pk))
	}
	return nil
}

// CheckTx is called for every tx entering the mempool and again (recheck)
// for those left after each block. It refuses what is malformed, badly
// signed, for another chain, from an unknown signer, replayed or out of
// nonce order, of an unknown type or a role that may not send it. It reads
// committed state only.
func (a *App) CheckTx(_ context.Context, req *abcitypes.RequestCheckTx) (*abcitypes.ResponseCheckTx, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, acc, p, err := a.authenticate(committed{a.store}, req.Tx, a.checkNonces)
	if err == nil {
		err = p.Authorize(acc.Role)
	}
	if err == nil && p.Handler.SimulateInCheckTx {
		err = a.simulate(acc, d.Body.Nonce, p)
	}
	if err != nil {
		code, name := CodeOf(err)
		return &abcitypes.ResponseCheckTx{Code: code, Codespace: Codespace, Log: name + ": " + err.Error()}, nil
	}
	a.checkNonces[d.Body.Signer] = d.Body.Nonce + 1
	return &abcitypes.ResponseCheckTx{Code: 0, GasWanted: 1}, nil
}

// simulate runs the tx's contract on a throwaway cache over committed
// state, as the next block would (signers unknown yet), and returns its
// verdict. Only a contract verdict counts: a storage error is returned as
// is and CheckTx reports it as internal.
func (a *App) simulate(acc *pb.Account, nonce uint64, p *contracts.Prepared) error {
	last, _ := a.store.LastCommit()
	blk := contracts.Block{Height: last + 1, ChainID: a.chainID}
	ctx := contracts.NewContext(blk, contracts.NewCache(readOnly{committed{a.store}}), acc, nonce)
	return p.Handler.Exec(ctx, p.Msg)
}

// authenticate runs the checks every path shares: size, decoding, chain id,
// signer, signature, nonce (against overlay, then the account sequence) and
// the payload's stateless validation.
func (a *App) authenticate(r contracts.Reader, raw []byte, overlay map[string]uint64) (*tx.Decoded, *pb.Account, *contracts.Prepared, error) {
	params, err := accounts.GetParams(r)
	if err != nil {
		return nil, nil, nil, err
	}
	d, err := tx.Decode(raw, params.MaxTxBytes)
	if err != nil {
		return nil, nil, nil, err
	}
	if d.Body.ChainId != a.chainID {
		return nil, nil, nil, fmt.Errorf("%w: tx is for %q, this chain is %q", ErrWrongChainID, d.Body.ChainId, a.chainID)
	}
	acc, err := accounts.GetAccount(r, d.Body.Signer)
	if err != nil {
		return nil, nil, nil, err
	}
	if acc == nil {
		return nil, nil, nil, fmt.Errorf("%w: %s has no account", ErrUnknownSigner, d.Body.Signer)
	}
	if err := a.sigs.verify(d, acc.Pubkey); err != nil {
		return nil, nil, nil, err
	}
	expected := acc.Sequence
	if n, ok := overlay[d.Body.Signer]; ok && n > expected {
		expected = n
	}
	switch {
	case d.Body.Nonce < expected:
		return nil, nil, nil, fmt.Errorf("%w: nonce %d, %s's next nonce is %d", ErrNonceReplayed, d.Body.Nonce, d.Body.Signer, expected)
	case d.Body.Nonce > expected:
		return nil, nil, nil, fmt.Errorf("%w: nonce %d, %s's next nonce is %d", ErrNonceSkipped, d.Body.Nonce, d.Body.Signer, expected)
	}
	p, err := a.router.Prepare(d.Body.Type, d.Body.Payload)
	if err != nil {
		return nil, nil, nil, err
	}
	if err := p.CheckForm(r); err != nil {
		return nil, nil, nil, err
	}
	return d, acc, p, nil
}

// ProposalTxBytes caps the txs of a proposal (one bigger tx still goes
// alone): a proposal must reach every validator within timeout_propose,
// and a 21 MiB block (the consensus limit, there for ciphertext txs) takes
// over 4 s at CometBFT's default 5 MB/s per peer, so a proposer with a
// full mempool would time out round after round while proposers with
// empty ones commit empty blocks. A round of homomorphic contributions
// (2 ciphertexts of ≈ 394 KB per member) fits.
const ProposalTxBytes = 4 << 20

// PrepareProposal is called on the proposer. It keeps, in mempool order,
// the txs that would authenticate in sequence against committed state and
// fit in req.MaxTxBytes and ProposalTxBytes; anything else would only be
// rejected in the block, or wait for the next.
func (a *App) PrepareProposal(_ context.Context, req *abcitypes.RequestPrepareProposal) (*abcitypes.ResponsePrepareProposal, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	overlay := map[string]uint64{}
	var total int64
	out := make([][]byte, 0, len(req.Txs))
	for _, raw := range req.Txs {
		size := cmttypes.ComputeProtoSizeForTxs([]cmttypes.Tx{raw})
		if total+size > req.MaxTxBytes || len(out) > 0 && total+size > ProposalTxBytes {
			break
		}
		d, _, _, err := a.authenticate(committed{a.store}, raw, overlay)
		if err != nil {
			continue
		}
		overlay[d.Body.Signer] = d.Body.Nonce + 1
		total += size
		out = append(out, raw)
	}
	return &abcitypes.ResponsePrepareProposal{Txs: out}, nil
}

// ProcessProposal is called on every validator for a proposed block. It
// accepts: each tx is judged, deterministically, in FinalizeBlock, where an
// invalid one gets its code and changes nothing. Rejecting here would let
// one bad tx from a faulty proposer cost a whole round.
func (a *App) ProcessProposal(_ context.Context, _ *abcitypes.RequestProcessProposal) (*abcitypes.ResponseProcessProposal, error) {
	return &abcitypes.ResponseProcessProposal{Status: abcitypes.ResponseProcessProposal_ACCEPT}, nil
}

// FinalizeBlock is called once per decided block. It runs the txs in order
// on the working state and returns their results and the app hash; nothing
// is persisted until Commit. A tx that fails authentication changes nothing;
// one that authenticates advances the signer's nonce even if its contract
// denies it, so refused attempts are on the ledger too.
func (a *App) FinalizeBlock(_ context.Context, req *abcitypes.RequestFinalizeBlock) (*abcitypes.ResponseFinalizeBlock, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	last, _ := a.store.LastCommit()
	want := last + 1
	if last == 0 {
		want = a.initialHeight
	}
	if req.Height != want {
		return nil, fmt.Errorf("finalize block %d: the last committed height is %d, the next must be %d", req.Height, last, want)
	}
	// The working state holds InitChain's writes before block 1, and is the
	// committed state otherwise: FinalizeBlock never runs twice for a height
	// without a Commit or a restart in between.
	a.pendingHeight = req.Height
	blk := contracts.Block{Height: req.Height, Time: req.Time, ChainID: a.chainID, Signers: signers(req.DecidedLastCommit)}
	results := make([]*abcitypes.ExecTxResult, len(req.Txs))
	var updates []contracts.ValidatorUpdate
	for i, raw := range req.Txs {
		res, vu, err := a.deliver(blk, raw)
		if err != nil {
			return nil, fmt.Errorf("block %d tx %d: %w", req.Height, i, err)
		}
		results[i] = res
		updates = append(updates, vu...)
	}
	events, vu, err := a.endBlock(blk)
	if err != nil {
		return nil, fmt.Errorf("block %d end: %w", req.Height, err)
	}
	updates = append(updates, vu...)
	return &abcitypes.ResponseFinalizeBlock{TxResults: results, Events: events, ValidatorUpdates: validatorUpdates(updates),
		AppHash: a.store.WorkingHash()}, nil
}

// validatorUpdates turns the block's validator-set changes (from governance)
// into CometBFT's form: one per key, the last asked for winning, ordered by
// key so every validator returns the same list. CometBFT applies them at
// height H+2.
func validatorUpdates(us []contracts.ValidatorUpdate) []abcitypes.ValidatorUpdate {
	if len(us) == 0 {
		return nil
	}
	last := map[string]int64{}
	for _, u := range us {
		last[string(u.PubKey)] = u.Power
	}
	keys := make([]string, 0, len(last))
	for k := range last {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]abcitypes.ValidatorUpdate, 0, len(keys))
	for _, k := range keys {
		out = append(out, abcitypes.UpdateValidator([]byte(k), last[k], "ed25519"))
	}
	return out
}

// signers lists, ascending, the validators whose commit votes for the
// previous block this block carries.
func signers(c abcitypes.CommitInfo) [][]byte {
	var out [][]byte
	for _, v := range c.Votes {
		if v.BlockIdFlag == cmtproto.BlockIDFlagCommit {
			out = append(out, v.Validator.Address)
		}
	}
	slices.SortFunc(out, bytes.Compare)
	return out
}

// endBlock runs the work the chain does by itself after the block's txs:
// decryption requests past their deadline fail, research queries move on
// (aggregation at their deadline, the cohort gate, the release), and
// governance proposals undecided at their deadline expire.
func (a *App) endBlock(blk contracts.Block) ([]abcitypes.Event, []contracts.ValidatorUpdate, error) {
	cache := contracts.NewCache(working{a.store})
	ctx := contracts.NewBlockContext(blk, cache)
	if err := hekeys.EndBlock(ctx); err != nil {
		return nil, nil, err
	}
	// After hekeys: a request that failed at its deadline is seen failed.
	if err := research.EndBlock(ctx); err != nil {
		return nil, nil, err
	}
	if err := governance.EndBlock(ctx); err != nil {
		return nil, nil, err
	}
	if err := cache.Write(); err != nil {
		return nil, nil, err
	}
	return toABCIEvents(ctx.Events()), ctx.ValidatorUpdates(), nil
}

// deliver runs one tx and returns its result and, if it succeeded, the
// validator-set changes it asked for. The returned error is a storage
// failure (it halts the node); a verdict on the tx is a non-zero code in
// the result.
func (a *App) deliver(blk contracts.Block, raw []byte) (*abcitypes.ExecTxResult, []contracts.ValidatorUpdate, error) {
	w := working{a.store}
	d, acc, p, err := a.authenticate(w, raw, nil)
	if err != nil {
		if code, _ := CodeOf(err); code == CodeInternal {
			return nil, nil, err
		}
		return rejected(err), nil, nil
	}
	a.sigs.forget(raw, acc.Pubkey)
	nonce := d.Body.Nonce
	acc.Sequence = nonce + 1
	if err := accounts.SetAccount(w, acc); err != nil {
		return nil, nil, err
	}
	txEvent := abcitypes.Event{Type: "tx", Attributes: []abcitypes.EventAttribute{
		{Key: "signer", Value: acc.Address, Index: true},
		{Key: "nonce", Value: strconv.FormatUint(nonce, 10), Index: true},
		{Key: "type", Value: d.Body.Type, Index: true},
	}}
	err = p.Authorize(acc.Role)
	var ctx *contracts.Context
	if err == nil {
		cache := contracts.NewCache(w)
		ctx = contracts.NewContext(blk, cache, acc, nonce)
		if err = p.Handler.Exec(ctx, p.Msg); err == nil {
			err = cache.Write()
			if err != nil {
				return nil, nil, err
			}
		}
	}
	if err != nil {
		if code, _ := CodeOf(err); code == CodeInternal {
			return nil, nil, err
		}
		res := rejected(err)
		txEvent.Attributes = append(txEvent.Attributes, abcitypes.EventAttribute{Key: "outcome", Value: "denied", Index: true})
		res.Events = []abcitypes.Event{txEvent}
		return res, nil, nil
	}
	txEvent.Attributes = append(txEvent.Attributes, abcitypes.EventAttribute{Key: "outcome", Value: "ok", Index: true})
	events := append([]abcitypes.Event{txEvent}, toABCIEvents(ctx.Events())...)
	return &abcitypes.ExecTxResult{Code: 0, Events: events, GasWanted: 1, GasUsed: 1}, ctx.ValidatorUpdates(), nil
}

func toABCIEvents(es []contracts.Event) []abcitypes.Event {
	out := make([]abcitypes.Event, 0, len(es))
	for _, e := range es {
		ev := abcitypes.Event{Type: e.Type}
		for _, at := range e.Attrs {
			ev.Attributes = append(ev.Attributes, abcitypes.EventAttribute{Key: at.Key, Value: at.Value, Index: at.Index})
		}
		out = append(out, ev)
	}
	return out
}

func rejected(err error) *abcitypes.ExecTxResult {
	code, name := CodeOf(err)
	return &abcitypes.ExecTxResult{Code: code, Codespace: Codespace, Log: name + ": " + err.Error()}
}

// Commit is called after FinalizeBlock once CometBFT has saved the block's
// results. It persists the working state as version height, atomically with
// the height and app hash (see abci/store), and resets the mempool's nonce
// view, which the recheck that follows rebuilds.
func (a *App) Commit(_ context.Context, _ *abcitypes.RequestCommit) (*abcitypes.ResponseCommit, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.pendingHeight == 0 {
		return nil, fmt.Errorf("commit without a finalized block")
	}
	hash, err := a.store.Commit(a.pendingHeight)
	if err != nil {
		return nil, fmt.Errorf("commit height %d: %w", a.pendingHeight, err)
	}
	a.logger.Debug("committed", "height", a.pendingHeight, "app_hash", fmt.Sprintf("%X", hash))
	a.pendingHeight = 0
	clear(a.checkNonces)
	// RetainHeight 0: keep every block, auditors replay the chain from genesis.
	return &abcitypes.ResponseCommit{}, nil
}

// ExtendVote is not used by medchain: vote extensions are disabled.
func (a *App) ExtendVote(context.Context, *abcitypes.RequestExtendVote) (*abcitypes.ResponseExtendVote, error) {
	return &abcitypes.ResponseExtendVote{}, nil
}

// VerifyVoteExtension accepts the (always empty) vote extensions.
func (a *App) VerifyVoteExtension(context.Context, *abcitypes.RequestVerifyVoteExtension) (*abcitypes.ResponseVerifyVoteExtension, error) {
	return &abcitypes.ResponseVerifyVoteExtension{Status: abcitypes.ResponseVerifyVoteExtension_ACCEPT}, nil
}

// ListSnapshots is called when a peer asks this node which snapshots it
// serves (state sync discovery). It lists those the store keeps, newest
// first; a listing error serves none rather than failing the peer.
func (a *App) ListSnapshots(context.Context, *abcitypes.RequestListSnapshots) (*abcitypes.ResponseListSnapshots, error) {
	snaps, err := a.store.Snapshots()
	if err != nil {
		a.logger.Error("list snapshots", "err", err)
		return &abcitypes.ResponseListSnapshots{}, nil
	}
	out := make([]*abcitypes.Snapshot, 0, len(snaps))
	for _, s := range snaps {
		out = append(out, &abcitypes.Snapshot{Height: uint64(s.Height), Format: s.Format, Chunks: s.Chunks, Hash: s.Hash, Metadata: s.Metadata})
	}
	return &abcitypes.ResponseListSnapshots{Snapshots: out}, nil
}

// OfferSnapshot is called on a node that state-syncs (empty, started with
// [statesync] enable) for the snapshot CometBFT chose, with the app hash
// its light client verified for that height. It accepts a snapshot of our
// format whose metadata is consistent and claims that app hash; it refuses
// another format (REJECT_FORMAT: CometBFT tries other formats), a bad or
// mismatching snapshot (REJECT: CometBFT tries another snapshot), and
// aborts state sync if this node already holds state or its store fails.
func (a *App) OfferSnapshot(_ context.Context, req *abcitypes.RequestOfferSnapshot) (*abcitypes.ResponseOfferSnapshot, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	reply := func(r abcitypes.ResponseOfferSnapshot_Result) (*abcitypes.ResponseOfferSnapshot, error) {
		return &abcitypes.ResponseOfferSnapshot{Result: r}, nil
	}
	sn := req.Snapshot
	if sn == nil || sn.Height == 0 || sn.Height > math.MaxInt64 {
		return reply(abcitypes.ResponseOfferSnapshot_REJECT)
	}
	err := a.store.BeginRestore(store.Snapshot{Height: int64(sn.Height), Format: sn.Format, Chunks: sn.Chunks,
		Hash: sn.Hash, Metadata: sn.Metadata}, req.AppHash)
	switch {
	case err == nil:
		a.logger.Info("snapshot accepted", "height", sn.Height, "chunks", sn.Chunks, "hash", fmt.Sprintf("%X", sn.Hash))
		return reply(abcitypes.ResponseOfferSnapshot_ACCEPT)
	case errors.Is(err, store.ErrSnapshotFormat):
		a.logger.Info("snapshot refused", "height", sn.Height, "err", err)
		return reply(abcitypes.ResponseOfferSnapshot_REJECT_FORMAT)
	case errors.Is(err, store.ErrSnapshotInvalid), errors.Is(err, store.ErrSnapshotMismatch):
		a.logger.Info("snapshot refused", "height", sn.Height, "err", err)
		return reply(abcitypes.ResponseOfferSnapshot_REJECT)
	default:
		a.logger.Error("state sync aborted", "height", sn.Height, "err", err)
		return reply(abcitypes.ResponseOfferSnapshot_ABORT)
	}
}

// LoadSnapshotChunk is called when a state-syncing peer asks this node for
// a chunk of a snapshot it listed. A chunk it no longer has (pruned) or
// that is corrupt on disk is answered empty, which the peer reads as
// missing and asks another peer for.
func (a *App) LoadSnapshotChunk(_ context.Context, req *abcitypes.RequestLoadSnapshotChunk) (*abcitypes.ResponseLoadSnapshotChunk, error) {
	if req.Height == 0 || req.Height > math.MaxInt64 {
		return &abcitypes.ResponseLoadSnapshotChunk{}, nil
	}
	chunk, err := a.store.SnapshotChunk(int64(req.Height), req.Format, req.Chunk)
	if err != nil {
		if !errors.Is(err, store.ErrSnapshotNotFound) {
			a.logger.Error("load snapshot chunk", "height", req.Height, "chunk", req.Chunk, "err", err)
		}
		return &abcitypes.ResponseLoadSnapshotChunk{}, nil
	}
	return &abcitypes.ResponseLoadSnapshotChunk{Chunk: chunk}, nil
}

// ApplySnapshotChunk is called, in chunk order, for each chunk of the
// snapshot OfferSnapshot accepted. A chunk whose hash is not in the
// metadata is refetched from another peer and its sender rejected
// (RETRY); a snapshot whose content is malformed or does not add up to
// the verified app hash is refused (REJECT_SNAPSHOT, the store is empty
// again); a chunk out of order restarts the snapshot (RETRY_SNAPSHOT).
// After the last chunk Info reports the snapshot's height and app hash,
// and blocks from the next height on execute as usual.
func (a *App) ApplySnapshotChunk(_ context.Context, req *abcitypes.RequestApplySnapshotChunk) (*abcitypes.ResponseApplySnapshotChunk, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	reply := func(r abcitypes.ResponseApplySnapshotChunk_Result) (*abcitypes.ResponseApplySnapshotChunk, error) {
		return &abcitypes.ResponseApplySnapshotChunk{Result: r}, nil
	}
	done, err := a.store.RestoreChunk(req.Index, req.Chunk)
	switch {
	case err == nil:
		if done {
			h, hash := a.store.LastCommit()
			clear(a.checkNonces)
			a.logger.Info("snapshot restored", "height", h, "app_hash", fmt.Sprintf("%X", hash))
		}
		return reply(abcitypes.ResponseApplySnapshotChunk_ACCEPT)
	case errors.Is(err, store.ErrChunkHash):
		a.logger.Info("snapshot chunk refused; fetching it again", "chunk", req.Index, "sender", req.Sender, "err", err)
		return &abcitypes.ResponseApplySnapshotChunk{Result: abcitypes.ResponseApplySnapshotChunk_RETRY,
			RefetchChunks: []uint32{req.Index}, RejectSenders: []string{req.Sender}}, nil
	case errors.Is(err, store.ErrSnapshotInvalid), errors.Is(err, store.ErrSnapshotMismatch):
		a.logger.Error("snapshot refused", "chunk", req.Index, "err", err)
		return reply(abcitypes.ResponseApplySnapshotChunk_REJECT_SNAPSHOT)
	case errors.Is(err, store.ErrChunkOrder):
		a.logger.Info("snapshot chunk out of order; restarting the snapshot", "chunk", req.Index, "err", err)
		return reply(abcitypes.ResponseApplySnapshotChunk_RETRY_SNAPSHOT)
	default:
		a.logger.Error("state sync aborted", "chunk", req.Index, "err", err)
		return reply(abcitypes.ResponseApplySnapshotChunk_ABORT)
	}
}
