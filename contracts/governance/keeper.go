package governance

import (
	"encoding/binary"
	"fmt"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// MinMembers is the fewest member hospitals (validators) a removal may
// leave: CometBFT tolerates f faults among 3f+1 validators, so below four
// the alliance could not survive a single one down.
const MinMembers = 4

// MaxListed bounds the "/gov/proposals" answer.
const MaxListed = 100

// Params returns the governance rules in state; an alliance whose genesis
// predates them votes under genesis.DefaultGovernance.
func Params(r contracts.Reader) (*pb.GovParams, error) {
	ap, err := accounts.GetParams(r)
	if err != nil {
		return nil, err
	}
	if ap.Gov == nil {
		return genesis.DefaultGovernance().Proto(), nil
	}
	return ap.Gov, nil
}

// GetProposal returns proposal id, or nil.
func GetProposal(r contracts.Reader, id uint64) (*pb.Proposal, error) {
	var p pb.Proposal
	ok, err := contracts.GetRecord(r, ProposalKey(id), &p)
	if !ok || err != nil {
		return nil, err
	}
	return &p, nil
}

// Proposals lists up to limit proposals, newest first.
func Proposals(r contracts.Reader, limit int) ([]*pb.Proposal, error) {
	start, end := ProposalPrefix()
	it, err := r.Iterator(start, end, false)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []*pb.Proposal
	for ; it.Valid() && len(out) < limit; it.Next() {
		var p pb.Proposal
		if _, err := contracts.GetRecord(r, it.Key(), &p); err != nil {
			return nil, err
		}
		out = append(out, &p)
	}
	return out, it.Error()
}

// nextID takes the next proposal id (1, 2, …).
func nextID(w contracts.KVStore) (uint64, error) {
	var id uint64 = 1
	b, err := w.Get(nextIDKey())
	if err != nil {
		return 0, err
	}
	if b != nil {
		if len(b) != 8 {
			return 0, fmt.Errorf("next proposal id is %d bytes, want 8", len(b))
		}
		id = binary.BigEndian.Uint64(b)
	}
	return id, w.Set(nextIDKey(), u64(nil, id+1))
}

// memberOf returns the member hospital whose operator signs ctx's tx.
func memberOf(ctx *contracts.Context) (*pb.Hospital, error) {
	h, err := accounts.GetHospital(ctx.Store, ctx.Signer.Hospital)
	if err != nil {
		return nil, err
	}
	if h == nil || h.Operator != ctx.Signer.Address || ctx.Signer.Role != pb.Role_ROLE_OPERATOR || h.RemovedHeight != 0 {
		return nil, fmt.Errorf("%w: %s is not the operator of a member hospital; only members propose and vote", contracts.ErrDenied, ctx.Signer.Address)
	}
	return h, nil
}
