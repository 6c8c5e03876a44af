package audit

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/medchain/medchain/abci"
)

// FetchEvidenceRPC fetches from a node's RPC what Verify checks for entry
// at state height (0 = the latest height whose next header exists): the
// value with its ICS23 proof (/abci_query), header height+1 with its
// commit (/commit) and validator set (/validators), and, when that set is
// not genesis's, the signed header at the initial height. It returns the
// genesis too (/genesis), which the auditor should compare with its own
// copy. Nothing fetched is trusted until Verify.
func FetchEvidenceRPC(ctx context.Context, url string, entry Entry, height int64) (*Evidence, *types.GenesisDoc, error) {
	r, err := DialRPC(url)
	if err != nil {
		return nil, nil, err
	}
	doc, err := r.Genesis(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, last, err := r.Heights(ctx)
	if err != nil {
		return nil, nil, err
	}
	if height == 0 {
		height = last - 1
	}
	if height < doc.InitialHeight || height+1 > last {
		return nil, nil, fmt.Errorf("--height %d: the node has headers %d to %d, and state H needs header H+1; give a height from %d to %d", height, doc.InitialHeight, last, doc.InitialHeight, last-1)
	}
	res, err := r.c.ABCIQueryWithOptions(ctx, entry.Path(), nil, rpcclient.ABCIQueryOptions{Height: height, Prove: true})
	if err != nil {
		return nil, nil, fmt.Errorf("%s/abci_query %s at height %d: %w", url, entry.Path(), height, err)
	}
	q := res.Response
	if q.Code != 0 {
		return nil, nil, fmt.Errorf("%s/abci_query %s at height %d: code %d: %s (the node may have pruned that height's state: try a recent height)", url, entry.Path(), height, q.Code, q.Log)
	}
	if q.Height != height {
		return nil, nil, fmt.Errorf("%s/abci_query answered for height %d, not %d", url, q.Height, height)
	}
	if q.ProofOps == nil || len(q.ProofOps.Ops) != 1 || q.ProofOps.Ops[0].Type != abci.ProofOpType {
		return nil, nil, fmt.Errorf("%s/abci_query returned no %s proof", url, abci.ProofOpType)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(q.ProofOps.Ops[0].Data); err != nil {
		return nil, nil, fmt.Errorf("%s/abci_query: the proof does not decode: %w", url, err)
	}
	// The node's key (q.Key) is not used: Verify computes the entry's.
	ev := &Evidence{Entry: entry, Height: height, Proof: &proof}
	if len(q.Value) > 0 {
		ev.Value = q.Value
	}
	if ev.Header, ev.Validators, err = rpcSignedHeader(ctx, r, height+1); err != nil {
		return nil, nil, err
	}
	if !sameSet(ev.Validators, doc) {
		if ev.Anchor, _, err = rpcSignedHeader(ctx, r, doc.InitialHeight); err != nil {
			return nil, nil, err
		}
	}
	return ev, doc, nil
}

// rpcSignedHeader fetches header h with its commit and validator set.
func rpcSignedHeader(ctx context.Context, r *RPC, h int64) (*types.SignedHeader, *types.ValidatorSet, error) {
	c, err := r.c.Commit(ctx, &h)
	if err != nil {
		return nil, nil, fmt.Errorf("%s/commit?height=%d: %w", r.url, h, err)
	}
	var vals []*types.Validator
	perPage := 100
	for page := 1; ; page++ {
		v, err := r.c.Validators(ctx, &h, &page, &perPage)
		if err != nil {
			return nil, nil, fmt.Errorf("%s/validators?height=%d: %w", r.url, h, err)
		}
		vals = append(vals, v.Validators...)
		if len(vals) >= v.Total || len(v.Validators) == 0 || page > 100 {
			break
		}
	}
	if len(vals) == 0 {
		return nil, nil, fmt.Errorf("%s/validators?height=%d returned no validator", r.url, h)
	}
	sh := c.SignedHeader
	return &sh, types.NewValidatorSet(vals), nil
}

func sameSet(vs *types.ValidatorSet, doc *types.GenesisDoc) bool {
	gv := make([]*types.Validator, len(doc.Validators))
	for i, v := range doc.Validators {
		gv[i] = types.NewValidator(v.PubKey, v.Power)
	}
	return string(vs.Hash()) == string(types.NewValidatorSet(gv).Hash())
}

// FetchEvidenceHome builds the evidence for entry at state height (0 =
// the block store's last height but one) from a stopped node's home
// without trusting the home's state: it replays the chain from genesis to
// height (o's To and Observer are replaced), proves the entry in the
// replay's own state and takes header height+1 and its commit from the
// block store (the commit from block height+2, or the block store's seen
// commit for the last block). The validator set is the one the replay
// derived. A chain that fails the replay is the replay's *Failure.
func FetchEvidenceHome(ctx context.Context, h *Home, entry Entry, height int64, o Options) (*Evidence, *types.GenesisDoc, error) {
	doc, err := h.Genesis(ctx)
	if err != nil {
		return nil, nil, err
	}
	_, last, err := h.Heights(ctx)
	if err != nil {
		return nil, nil, err
	}
	if height == 0 {
		height = last - 1
	}
	if height < doc.InitialHeight || height+1 > last {
		return nil, nil, fmt.Errorf("--height %d: the home has blocks %d to %d, and state H needs header H+1; give a height from %d to %d", height, doc.InitialHeight, last, doc.InitialHeight, last-1)
	}
	key, err := entry.Key()
	if err != nil {
		return nil, nil, err
	}
	ev := &Evidence{Entry: entry, Height: height}
	o.To, o.Observer = height, &proveAtEnd{key: key, ev: ev}
	if _, err := Replay(ctx, h, o); err != nil {
		return nil, nil, err
	}
	blk, _, err := h.Block(ctx, height+1)
	if err != nil {
		return nil, nil, err
	}
	var commit *types.Commit
	if height+2 <= last {
		next, _, err := h.Block(ctx, height+2)
		if err != nil {
			return nil, nil, err
		}
		commit = next.LastCommit
	} else if commit, err = h.seenCommit(height + 1); err != nil {
		return nil, nil, err
	}
	ev.Header = &types.SignedHeader{Header: &blk.Header, Commit: commit}
	return ev, doc, nil
}

// proveAtEnd is the Observer that proves one key in the replayed state.
type proveAtEnd struct {
	key []byte
	ev  *Evidence
}

func (p *proveAtEnd) Block(int64, [][]byte, *abcitypes.ResponseFinalizeBlock) {}

func (p *proveAtEnd) Final(st *FinalState) error {
	v, proof, err := st.Prove(p.key)
	if err != nil {
		return fmt.Errorf("prove %s in the replayed state at height %d: %w", p.ev.Entry, st.Height, err)
	}
	p.ev.Value, p.ev.Proof = v, proof
	p.ev.Validators, p.ev.Replayed = st.Validators, st.Validators.Copy()
	return nil
}

// seenCommit reads the commit the node saw for its last block (CometBFT's
// "SC:<height>" record of the block store).
func (h *Home) seenCommit(height int64) (*types.Commit, error) {
	bz, err := h.blocks.Get([]byte("SC:" + strconv.FormatInt(height, 10)))
	if err != nil {
		return nil, fmt.Errorf("block store: read the seen commit of %d: %w", height, err)
	}
	if len(bz) == 0 {
		return nil, errors.New("block store: no commit for header " + strconv.FormatInt(height, 10) + " (the last block's seen commit is missing); verify a lower --height")
	}
	var pc cmtproto.Commit
	if err := proto.Unmarshal(bz, &pc); err != nil {
		return nil, fmt.Errorf("block store: the seen commit of %d does not decode: %w", height, err)
	}
	c, err := types.CommitFromProto(&pc)
	if err != nil {
		return nil, fmt.Errorf("block store: the seen commit of %d is invalid: %w", height, err)
	}
	return c, nil
}
