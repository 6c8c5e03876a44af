package hework

import (
	"context"
	"fmt"
	"slices"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/chainrpc"
)

// maxEpochProbes bounds how many newly opened key epochs one step finds;
// the rest are found on the next steps.
const maxEpochProbes = 8

// epochInfo is what never changes about an opened key epoch: its members
// and threshold, fixed by hekeys.StartEpoch (or genesis, for epoch 1).
type epochInfo struct {
	members   []uint64
	threshold uint32
}

// discoverEpochs finds the key epochs governance opened since the last
// step: it probes /he/epoch/<last+1>, up to maxEpochProbes times, and
// remembers each epoch it finds. Epochs are numbered 1, 2, … without gaps.
func (w *Worker) discoverEpochs(ctx context.Context) error {
	for range maxEpochProbes {
		ep, err := w.fetchEpoch(ctx, w.lastEpoch+1)
		if err != nil || ep == nil {
			return err
		}
		w.lastEpoch = ep.Epoch
	}
	return nil
}

// fetchEpoch reads key epoch e from the chain and remembers its fixed
// part; nil if e is not open.
func (w *Worker) fetchEpoch(ctx context.Context, e uint64) (*pb.KeyEpoch, error) {
	ep, err := chainrpc.QueryMessage[pb.KeyEpoch](ctx, w.cfg.Chain, epochPath(e))
	if err != nil || ep == nil {
		return nil, err
	}
	if ep.Epoch != e {
		return nil, fmt.Errorf("the node answered %s with key epoch %d", epochPath(e), ep.Epoch)
	}
	if _, ok := w.epochs[e]; !ok {
		info := epochInfo{members: slices.Clone(ep.Members), threshold: ep.Threshold}
		w.epochs[e] = info
		w.log.Info("HE worker: key epoch open on chain", "epoch", e, "members", fmt.Sprint(info.members),
			"threshold", info.threshold, "ready", ep.Ready, "this_member_takes_part", w.member != 0 && slices.Contains(info.members, w.member))
	}
	return ep, nil
}

// inEpoch reports whether member me is one of key epoch e's members,
// reading e from the chain if this worker has not seen it yet. An epoch
// that is not open has no members.
func (w *Worker) inEpoch(ctx context.Context, e, me uint64) (bool, error) {
	info, ok := w.epochs[e]
	if !ok {
		ep, err := w.fetchEpoch(ctx, e)
		if err != nil || ep == nil {
			return false, err
		}
		info = w.epochs[e]
	}
	return me != 0 && slices.Contains(info.members, me), nil
}

// ceremonyEpochs lists, ascending, the known epochs whose ceremony this
// member still has to go through: those it is a member of and holds no
// threshold secret for in memory (ceremonyDuty looks in the keyring).
func (w *Worker) ceremonyEpochs() []uint64 {
	var out []uint64
	for e := uint64(1); e <= w.lastEpoch; e++ {
		if w.thresholds[e] == nil && slices.Contains(w.epochs[e].members, w.member) {
			out = append(out, e)
		}
	}
	return out
}

// membership is where this home's operator stands in the alliance.
type membership struct {
	hospital string // its hospital's id; "" when no hospital has this operator
	index    uint64 // its member index
	removed  int64  // height of the vote that removed the hospital; 0 if it was not
}

// refreshMembership reads /hospitals, once per block, to learn whether
// this home's hospital is a member: w.member is its member index while it
// is, 0 before a vote admits it and after a vote removes it (both quiet
// states, logged once at Info when they begin). It also refreshes the
// members' seal keys and checks that the seal key the chain holds for
// this hospital is this home's: shares sealed to another key could never
// be opened here, so that is an error, and w.member stays 0.
func (w *Worker) refreshMembership(ctx context.Context) error {
	if w.memberAt == w.height && w.memberAt != 0 {
		return nil
	}
	w.member = 0
	list, err := chainrpc.QueryMessage[pb.HospitalList](ctx, w.cfg.Chain, hospitalsPath)
	if err != nil {
		return err
	}
	seals := map[uint64][]byte{}
	var own *pb.Hospital
	for _, h := range list.GetHospitals() {
		if h.MemberIndex != 0 {
			seals[h.MemberIndex] = h.SealPubkey
		}
		if h.Operator == w.addr {
			own = h
		}
	}
	var st membership
	switch {
	case own == nil:
	case own.RemovedHeight != 0:
		st = membership{hospital: own.Id, index: own.MemberIndex, removed: own.RemovedHeight}
	case own.MemberIndex == 0:
		return fmt.Errorf("hospital %q has no member index on chain", own.Id)
	case string(own.SealPubkey) != string(w.sealPub[:]):
		return fmt.Errorf("hospital %q: the seal key on chain (%s) is not this home's seal key (%s); shares sealed to it cannot be opened here",
			own.Id, shortHash(own.SealPubkey), shortHash(w.sealPub[:]))
	default:
		st = membership{hospital: own.Id, index: own.MemberIndex}
	}
	if w.status == nil || *w.status != st {
		w.status = &st
		switch {
		case st.hospital == "":
			w.log.Info("HE worker: this hospital is not a member of the alliance (yet); it takes part once a vote admits it",
				"operator", w.addr)
		case st.removed != 0:
			w.log.Info("HE worker: this hospital was removed from the alliance; it takes no further part in key epochs, decryptions or research queries",
				"hospital", st.hospital, "member_index", st.index, "removed_height", st.removed)
		default:
			w.log.Info("HE worker: this hospital is member", "hospital", st.hospital, "member_index", st.index)
		}
	}
	w.seals, w.memberAt = seals, w.height
	if st.removed == 0 {
		w.member = st.index
	}
	return nil
}
