package hekeys

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
)

// Tx types and events of this contract.
const (
	TypeKeyCommit = "he.key_commit"
	TypeKeyShare  = "he.key_share"
	TypeSubmit    = "he.submit"
	TypeRequest   = "he.request"
	TypeKSShare   = "he.ks_share"

	EventKeyCommitted   = "he.key_committed"
	EventKeySharePosted = "he.key_share_posted"
	EventKeyReady       = "he.key_ready"
	EventSubmitted      = "he.ciphertext_submitted"
	EventRequestCreated = "he.request_created"
	EventKSSharePosted  = "he.ks_share_posted"
	EventRequestDone    = "he.request_done"
	EventRequestFailed  = "he.request_failed"
)

// maxRequestInputs bounds how many ciphertexts one request sums.
const maxRequestInputs = 64

// maxLabelBytes bounds a submitted ciphertext's label.
const maxLabelBytes = 128

// Handlers returns this contract's tx handlers.
func Handlers() []contracts.Handler {
	return []contracts.Handler{
		{
			Type: TypeKeyCommit, Roles: []pb.Role{pb.Role_ROLE_OPERATOR},
			SimulateInCheckTx: true,
			New:               func() proto.Message { return &pb.CommitKeyShare{} },
			Validate: func(m proto.Message) error {
				c := m.(*pb.CommitKeyShare)
				if c.Epoch == 0 {
					return errors.New("epoch must be at least 1")
				}
				if len(c.Commitment) != sha256.Size {
					return fmt.Errorf("commitment is %d bytes, a SHA-256 is %d", len(c.Commitment), sha256.Size)
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execKeyCommit(ctx, m.(*pb.CommitKeyShare)) },
		},
		{
			Type: TypeKeyShare, Roles: []pb.Role{pb.Role_ROLE_OPERATOR},
			SimulateInCheckTx: true,
			New:               func() proto.Message { return &pb.PostKeyShare{} },
			Check:             checkForm,
			Validate: func(m proto.Message) error {
				if m.(*pb.PostKeyShare).Epoch == 0 {
					return errors.New("epoch must be at least 1")
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execKeyShare(ctx, m.(*pb.PostKeyShare)) },
		},
		{
			Type: TypeSubmit, Roles: []pb.Role{pb.Role_ROLE_OPERATOR},
			New:   func() proto.Message { return &pb.SubmitCiphertext{} },
			Check: checkForm,
			Validate: func(m proto.Message) error {
				if len(m.(*pb.SubmitCiphertext).Label) > maxLabelBytes {
					return fmt.Errorf("label longer than %d bytes", maxLabelBytes)
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execSubmit(ctx, m.(*pb.SubmitCiphertext)) },
		},
		{
			Type: TypeRequest, Roles: []pb.Role{pb.Role_ROLE_RESEARCHER},
			New:   func() proto.Message { return &pb.RequestDecryption{} },
			Check: checkForm,
			Validate: func(m proto.Message) error {
				r := m.(*pb.RequestDecryption)
				if n := len(r.CiphertextHashes); n == 0 || n > maxRequestInputs {
					return fmt.Errorf("%d ciphertexts: give 1 to %d", n, maxRequestInputs)
				}
				if r.Public && len(r.ResearcherKey) != 0 {
					return errors.New("a public request names no researcher key: its sum is decrypted for every member")
				}
				seen := map[string]bool{}
				for _, h := range r.CiphertextHashes {
					if len(h) != sha256.Size || seen[string(h)] {
						return fmt.Errorf("ciphertext hash %x: must be 32 bytes and listed once", h)
					}
					seen[string(h)] = true
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error {
				return execRequest(ctx, m.(*pb.RequestDecryption))
			},
		},
		{
			Type: TypeKSShare, Roles: []pb.Role{pb.Role_ROLE_OPERATOR},
			SimulateInCheckTx: true,
			New:               func() proto.Message { return &pb.PostKeySwitchShare{} },
			Check:             checkForm,
			Exec: func(ctx *contracts.Context, m proto.Message) error {
				return execKSShare(ctx, m.(*pb.PostKeySwitchShare))
			},
		},
	}
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrInvalidPayload, fmt.Sprintf(format, a...))
}

// execKeyCommit records a member's commitment to the public-key share it
// will post. Every member commits before any share is accepted, so the
// last member to post cannot pick its share from the others' (a rogue key
// that would make the collective key its own).
func execKeyCommit(ctx *contracts.Context, m *pb.CommitKeyShare) error {
	if _, _, err := Params(ctx.Store); err != nil {
		return err
	}
	ep, dealer, err := openEpochFor(ctx, m.Epoch)
	if err != nil {
		return err
	}
	switch {
	case slices.Contains(ep.Committed, dealer):
		return fmt.Errorf("%w: member %d already committed to its share for key epoch %d", contracts.ErrExists, dealer, m.Epoch)
	}
	if len(m.Commitment) != sha256.Size { // Validate checked it; state must never hold another size
		return invalid("commitment is %d bytes, a SHA-256 is %d", len(m.Commitment), sha256.Size)
	}
	if err := ctx.Store.Set(CommitKey(m.Epoch, dealer), m.Commitment); err != nil {
		return err
	}
	ep.Committed = append(ep.Committed, dealer)
	slices.Sort(ep.Committed)
	ctx.Emit(EventKeyCommitted,
		contracts.Attr{Key: "epoch", Value: itoa(m.Epoch), Index: true},
		contracts.Attr{Key: "dealer", Value: itoa(dealer), Index: true})
	return set(ctx.Store, EpochKey(m.Epoch), ep)
}

// openEpochFor returns key epoch e, still open, and the signer's member
// index in it; anything else is the error the ceremony txs share.
func openEpochFor(ctx *contracts.Context, e uint64) (*pb.KeyEpoch, uint64, error) {
	dealer, _, err := memberOf(ctx)
	if err != nil {
		return nil, 0, err
	}
	ep, err := GetEpoch(ctx.Store, e)
	if err != nil {
		return nil, 0, err
	}
	switch {
	case ep == nil:
		return nil, 0, fmt.Errorf("%w: key epoch %d is not open", contracts.ErrWrongState, e)
	case ep.Ready:
		return nil, 0, fmt.Errorf("%w: key epoch %d is complete", contracts.ErrWrongState, e)
	case !slices.Contains(ep.Members, dealer):
		return nil, 0, fmt.Errorf("%w: member %d does not take part in key epoch %d", contracts.ErrUnauthorized, dealer, e)
	}
	return ep, dealer, nil
}

// GetCommitment returns dealer's commitment in key epoch e, or nil.
func GetCommitment(r contracts.Reader, e, dealer uint64) ([]byte, error) {
	return r.Get(CommitKey(e, dealer))
}

func execKeyShare(ctx *contracts.Context, m *pb.PostKeyShare) error {
	p, _, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	ep, dealer, err := openEpochFor(ctx, m.Epoch)
	if err != nil {
		return err
	}
	switch {
	case slices.Contains(ep.Posted, dealer):
		return fmt.Errorf("%w: member %d already posted its share for key epoch %d (a second share would be insecure)", contracts.ErrExists, dealer, m.Epoch)
	case len(ep.Committed) != len(ep.Members):
		return fmt.Errorf("%w: key epoch %d takes shares once every member has committed (%d of %d have)", contracts.ErrWrongState, m.Epoch, len(ep.Committed), len(ep.Members))
	}
	commitment, err := GetCommitment(ctx.Store, m.Epoch, dealer)
	if err != nil {
		return err
	}
	if commitment == nil {
		return fmt.Errorf("%w: key epoch %d lists member %d as committed but holds no commitment", contracts.ErrNotFound, m.Epoch, dealer)
	}
	if own := Commitment(ctx.Block.ChainID, m.Epoch, dealer, m.PublicKeyShare); !bytes.Equal(own, commitment) {
		return invalid("public_key_share opens to commitment %x, member %d committed to %x", own[:8], dealer, commitment[:min(8, len(commitment))])
	}
	pkHash := sha256.Sum256(m.PublicKeyShare)
	if err := p.ValidatePublicKeyShare(m.PublicKeyShare); err != nil {
		return invalid("public_key_share: %v", err)
	}
	// AggregatePublicKey refuses byte-identical shares: accepting a replay
	// of an earlier member's share would make the last post fail forever.
	for _, d := range ep.Posted {
		var r pb.KeyShareRecord
		if _, err := get(ctx.Store, KeyShareKey(m.Epoch, d), &r); err != nil {
			return err
		}
		if bytes.Equal(r.PublicKeyShareHash, pkHash[:]) {
			return fmt.Errorf("%w: public_key_share is member %d's share for key epoch %d", contracts.ErrExists, d, m.Epoch)
		}
	}
	var want []uint64
	for _, x := range ep.Members {
		if x != dealer {
			want = append(want, x)
		}
	}
	if len(m.Shares) != len(want) {
		return invalid("%d sealed shares, want one for each of the other %d members", len(m.Shares), len(want))
	}
	sealedSize := p.ThresholdShareSize() + box.AnonymousOverhead
	rec := &pb.KeyShareRecord{Epoch: m.Epoch, Dealer: dealer, Height: ctx.Block.Height}
	for i, s := range m.Shares {
		if s.Recipient != want[i] {
			return invalid("shares[%d] is for member %d, want member %d (one per other member, ascending)", i, s.Recipient, want[i])
		}
		if len(s.Sealed) != sealedSize {
			return invalid("shares[%d] is %d bytes, a sealed threshold share is %d", i, len(s.Sealed), sealedSize)
		}
		h, err := putBlob(ctx.Store, s.Sealed)
		if err != nil {
			return err
		}
		rec.Shares = append(rec.Shares, &pb.SealedShareRef{Recipient: s.Recipient, Hash: h})
	}
	if rec.PublicKeyShareHash, err = putBlob(ctx.Store, m.PublicKeyShare); err != nil {
		return err
	}
	if err := set(ctx.Store, KeyShareKey(m.Epoch, dealer), rec); err != nil {
		return err
	}
	ep.Posted = append(ep.Posted, dealer)
	slices.Sort(ep.Posted)
	ctx.Emit(EventKeySharePosted,
		contracts.Attr{Key: "epoch", Value: itoa(m.Epoch), Index: true},
		contracts.Attr{Key: "dealer", Value: itoa(dealer), Index: true})
	if len(ep.Posted) == len(ep.Members) {
		shares := make([][]byte, 0, len(ep.Members))
		for _, d := range ep.Members {
			var r pb.KeyShareRecord
			if _, err := get(ctx.Store, KeyShareKey(m.Epoch, d), &r); err != nil {
				return err
			}
			b, err := GetBlob(ctx.Store, r.PublicKeyShareHash)
			if err != nil {
				return err
			}
			shares = append(shares, b)
		}
		pk, err := p.AggregatePublicKey(he.CRPSeed(ctx.Block.ChainID, m.Epoch), shares)
		if err != nil {
			return invalid("aggregating the collective key: %v", err)
		}
		if ep.PublicKeyHash, err = putBlob(ctx.Store, pk); err != nil {
			return err
		}
		ep.Ready, ep.ReadyHeight = true, ctx.Block.Height
		ctx.Emit(EventKeyReady,
			contracts.Attr{Key: "epoch", Value: itoa(m.Epoch), Index: true},
			contracts.Attr{Key: "public_key_hash", Value: hex.EncodeToString(ep.PublicKeyHash)})
	}
	return set(ctx.Store, EpochKey(m.Epoch), ep)
}

func readyEpoch(ctx *contracts.Context, e uint64) (*pb.KeyEpoch, error) {
	ep, err := GetEpoch(ctx.Store, e)
	if err != nil {
		return nil, err
	}
	if ep == nil || !ep.Ready {
		return nil, fmt.Errorf("%w: key epoch %d has no collective key yet", contracts.ErrWrongState, e)
	}
	return ep, nil
}

func execSubmit(ctx *contracts.Context, m *pb.SubmitCiphertext) error {
	p, _, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	member, _, err := memberOf(ctx)
	if err != nil {
		return err
	}
	if _, err := readyEpoch(ctx, m.Epoch); err != nil {
		return err
	}
	if err := p.ValidateCiphertext(m.Ciphertext); err != nil {
		return invalid("ciphertext: %v", err)
	}
	h, err := putBlob(ctx.Store, m.Ciphertext)
	if err != nil {
		return err
	}
	if existing, err := ctx.Store.Get(CiphertextKey(h)); err != nil {
		return err
	} else if existing != nil {
		return fmt.Errorf("%w: ciphertext %x was already submitted", contracts.ErrExists, h)
	}
	if err := set(ctx.Store, CiphertextKey(h), &pb.CiphertextRecord{Hash: h, Epoch: m.Epoch, Submitter: member, Label: m.Label, Height: ctx.Block.Height}); err != nil {
		return err
	}
	ctx.Emit(EventSubmitted,
		contracts.Attr{Key: "hash", Value: hex.EncodeToString(h), Index: true},
		contracts.Attr{Key: "submitter", Value: itoa(member), Index: true})
	return nil
}

// liveMembers returns, ascending, the epoch members whose validators signed
// the previous block.
func liveMembers(ctx *contracts.Context, ep *pb.KeyEpoch) ([]uint64, error) {
	hs, err := accounts.Hospitals(ctx.Store)
	if err != nil {
		return nil, err
	}
	var live []uint64
	for _, h := range hs {
		addr := sha256.Sum256(h.ValidatorPubkey) // CometBFT's ed25519 address: SHA-256(pub)[:20]
		signed := slices.ContainsFunc(ctx.Block.Signers, func(s []byte) bool { return bytes.Equal(s, addr[:20]) })
		if signed && slices.Contains(ep.Members, h.MemberIndex) {
			live = append(live, h.MemberIndex)
		}
	}
	slices.Sort(live)
	return live, nil
}

func execRequest(ctx *contracts.Context, m *pb.RequestDecryption) error {
	p, _, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	if !m.Public {
		if err := p.ValidateResearcherKey(m.ResearcherKey); err != nil {
			return invalid("researcher_key: %v", err)
		}
	}
	var epoch uint64
	cts := make([][]byte, 0, len(m.CiphertextHashes))
	for _, h := range m.CiphertextHashes {
		var rec pb.CiphertextRecord
		ok, err := get(ctx.Store, CiphertextKey(h), &rec)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("%w: no submitted ciphertext %x", contracts.ErrNotFound, h)
		}
		if epoch != 0 && rec.Epoch != epoch {
			return invalid("ciphertexts of different key epochs cannot be summed")
		}
		epoch = rec.Epoch
		b, err := GetBlob(ctx.Store, h)
		if err != nil {
			return err
		}
		cts = append(cts, b)
	}
	if _, err := readyEpoch(ctx, epoch); err != nil {
		return err
	}
	agg, err := p.Add(cts...)
	if err != nil {
		return invalid("adding the ciphertexts: %v", err)
	}
	var target []byte
	if !m.Public {
		target = m.ResearcherKey
	}
	_, err = NewRequest(ctx, ctx.Signer.Address, epoch, agg, target)
	return err
}

// NewRequest opens a one-shot decryption request of agg, a ciphertext under
// key epoch epoch's collective key: switched to the researcher key target,
// or, if target is nil, decrypted in public. It refuses a sum whose mask
// was ever released, fixes the active set from the members that signed the
// last block and stores the request, pending until its deadline. Other
// contracts (research queries) call it with the aggregates they computed;
// requester is who the request is for. target must have been validated.
func NewRequest(ctx *contracts.Context, requester string, epoch uint64, agg, target []byte) (*pb.DecryptionRequest, error) {
	p, hp, err := Params(ctx.Store)
	if err != nil {
		return nil, err
	}
	ep, err := readyEpoch(ctx, epoch)
	if err != nil {
		return nil, err
	}
	mask, err := p.MaskDigest(agg)
	if err != nil {
		return nil, invalid("mask of the sum: %v", err)
	}
	if prev, err := ctx.Store.Get(releasedKey(mask)); err != nil {
		return nil, err
	} else if prev != nil {
		return nil, fmt.Errorf("%w: this sum's mask was already released by request %d; a second release is insecure — ask for a sum over new ciphertexts", contracts.ErrWrongState, binary.BigEndian.Uint64(prev))
	}
	live, err := liveMembers(ctx, ep)
	if err != nil {
		return nil, err
	}
	t := int(ep.Threshold)
	if len(live) < t {
		return nil, fmt.Errorf("%w: %d members signed the last block, a decryption needs %d", contracts.ErrWrongState, len(live), t)
	}
	var id uint64 = 1
	if b, err := ctx.Store.Get(nextIDKey()); err != nil {
		return nil, err
	} else if b != nil {
		id = binary.BigEndian.Uint64(b)
	}
	// Rotate the start so the work spreads over the live members.
	start := int(id % uint64(len(live)))
	active := append(slices.Clone(live[start:]), live[:start]...)[:t]
	slices.Sort(active)
	aggHash, err := putBlob(ctx.Store, agg)
	if err != nil {
		return nil, err
	}
	var keyHash []byte
	if target != nil {
		if keyHash, err = putBlob(ctx.Store, target); err != nil {
			return nil, err
		}
	}
	req := &pb.DecryptionRequest{
		Id: id, Epoch: epoch, Requester: requester, AggregateHash: aggHash, TargetKeyHash: keyHash,
		ActiveSet: active, DeadlineHeight: ctx.Block.Height + int64(hp.ShareDeadlineBlocks),
		Status: pb.DecryptionRequest_STATUS_PENDING, Height: ctx.Block.Height, Public: target == nil,
	}
	for _, kv := range []struct{ k, v []byte }{
		{nextIDKey(), u64(nil, id+1)},
		{releasedKey(mask), u64(nil, id)},
		{pendingKey(req.DeadlineHeight, id), u64(nil, id)},
	} {
		if err := ctx.Store.Set(kv.k, kv.v); err != nil {
			return nil, err
		}
	}
	if err := set(ctx.Store, RequestKey(id), req); err != nil {
		return nil, err
	}
	ctx.Emit(EventRequestCreated,
		contracts.Attr{Key: "id", Value: itoa(id), Index: true},
		contracts.Attr{Key: "requester", Value: req.Requester, Index: true},
		contracts.Attr{Key: "active_set", Value: joinIdx(active)},
		contracts.Attr{Key: "public", Value: strconv.FormatBool(req.Public)},
		contracts.Attr{Key: "deadline_height", Value: fmt.Sprint(req.DeadlineHeight)})
	return req, nil
}

func execKSShare(ctx *contracts.Context, m *pb.PostKeySwitchShare) error {
	p, _, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	member, _, err := memberOf(ctx)
	if err != nil {
		return err
	}
	req, err := GetRequest(ctx.Store, m.Request)
	if err != nil {
		return err
	}
	switch {
	case req == nil:
		return fmt.Errorf("%w: no decryption request %d", contracts.ErrNotFound, m.Request)
	case req.Status != pb.DecryptionRequest_STATUS_PENDING:
		return fmt.Errorf("%w: request %d is %s", contracts.ErrWrongState, m.Request, req.Status)
	case ctx.Block.Height > req.DeadlineHeight:
		return fmt.Errorf("%w: request %d passed its deadline (height %d)", contracts.ErrWrongState, m.Request, req.DeadlineHeight)
	case !slices.Contains(req.ActiveSet, member):
		return fmt.Errorf("%w: member %d is not in request %d's active set %v", contracts.ErrUnauthorized, member, m.Request, req.ActiveSet)
	case slices.Contains(req.Posted, member):
		return fmt.Errorf("%w: member %d already posted its share for request %d", contracts.ErrExists, member, m.Request)
	}
	validate := p.ValidateKeySwitchShare
	if req.Public {
		validate = p.ValidateDecryptShare
	}
	if err := validate(m.Share); err != nil {
		return invalid("share: %v", err)
	}
	h, err := putBlob(ctx.Store, m.Share)
	if err != nil {
		return err
	}
	if err := ctx.Store.Set(ksShareKey(req.Id, member), h); err != nil {
		return err
	}
	req.Posted = append(req.Posted, member)
	slices.Sort(req.Posted)
	ctx.Emit(EventKSSharePosted,
		contracts.Attr{Key: "id", Value: itoa(req.Id), Index: true},
		contracts.Attr{Key: "member", Value: itoa(member), Index: true})
	if len(req.Posted) == len(req.ActiveSet) {
		agg, err := GetBlob(ctx.Store, req.AggregateHash)
		if err != nil {
			return err
		}
		shares := make([][]byte, 0, len(req.ActiveSet))
		for _, x := range req.ActiveSet {
			sh, err := ctx.Store.Get(ksShareKey(req.Id, x))
			if err != nil {
				return err
			}
			b, err := GetBlob(ctx.Store, sh)
			if err != nil {
				return err
			}
			shares = append(shares, b)
		}
		if req.Public {
			values, err := p.DecryptPublic(agg, shares)
			if err != nil {
				return invalid("public decryption: %v", err)
			}
			last := len(values)
			for last > 0 && values[last-1] == 0 {
				last--
			}
			req.ResultValues = values[:last]
		} else {
			res, err := p.KeySwitch(agg, shares)
			if err != nil {
				return invalid("key switch: %v", err)
			}
			if req.ResultHash, err = putBlob(ctx.Store, res); err != nil {
				return err
			}
		}
		req.Status = pb.DecryptionRequest_STATUS_DONE
		if err := ctx.Store.Delete(pendingKey(req.DeadlineHeight, req.Id)); err != nil {
			return err
		}
		ctx.Emit(EventRequestDone,
			contracts.Attr{Key: "id", Value: itoa(req.Id), Index: true},
			contracts.Attr{Key: "public", Value: strconv.FormatBool(req.Public)},
			contracts.Attr{Key: "result_hash", Value: hex.EncodeToString(req.ResultHash)})
	}
	return set(ctx.Store, RequestKey(req.Id), req)
}

// EndBlock fails, for good, the pending requests whose deadline has passed.
// It runs after the block's txs, on every validator alike.
func EndBlock(ctx *contracts.Context) error {
	start, _ := PendingPrefix()
	end := pendingKey(ctx.Block.Height, 0) // deadlines < height
	it, err := ctx.Store.Iterator(start, end, true)
	if err != nil {
		return err
	}
	var expired [][]byte
	for ; it.Valid(); it.Next() {
		expired = append(expired, bytes.Clone(it.Key()))
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return err
	}
	for _, k := range expired {
		id := binary.BigEndian.Uint64(k[9:])
		req, err := GetRequest(ctx.Store, id)
		if err != nil {
			return err
		}
		if err := ctx.Store.Delete(k); err != nil {
			return err
		}
		if req == nil || req.Status != pb.DecryptionRequest_STATUS_PENDING {
			continue
		}
		var missing []uint64
		for _, x := range req.ActiveSet {
			if !slices.Contains(req.Posted, x) {
				missing = append(missing, x)
			}
		}
		req.Status = pb.DecryptionRequest_STATUS_FAILED
		req.Reason = fmt.Sprintf("members %s did not post their shares by height %d; the sum is never released again, ask over new ciphertexts", joinIdx(missing), req.DeadlineHeight)
		if err := set(ctx.Store, RequestKey(id), req); err != nil {
			return err
		}
		ctx.Emit(EventRequestFailed,
			contracts.Attr{Key: "id", Value: itoa(id), Index: true},
			contracts.Attr{Key: "reason", Value: req.Reason})
	}
	return nil
}
