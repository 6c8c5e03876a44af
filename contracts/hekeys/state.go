package hekeys

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
)

// paramsCache memoises he.NewParams (≈20 ms) per parameter literal. The
// result is a pure function of the literal, so caching cannot change state.
var paramsCache = struct {
	sync.Mutex
	m map[string]*he.Params
}{m: map[string]*he.Params{}}

// Params returns the alliance's HE parameters from state, or ErrWrongState
// if the alliance has none.
func Params(r contracts.Reader) (*he.Params, *pb.HEParams, error) {
	ap, err := accounts.GetParams(r)
	if err != nil {
		return nil, nil, err
	}
	hp := ap.He
	if hp == nil {
		return nil, nil, fmt.Errorf("%w: this alliance has no HE parameters in genesis", contracts.ErrWrongState)
	}
	lit := he.ParamsLiteral{LogN: int(hp.LogN), Q: hp.Q, T: hp.T}
	key := fmt.Sprint(lit.LogN, lit.Q, lit.T)
	paramsCache.Lock()
	defer paramsCache.Unlock()
	if p, ok := paramsCache.m[key]; ok {
		return p, hp, nil
	}
	p, err := he.NewParams(lit)
	if err != nil {
		return nil, nil, fmt.Errorf("HE parameters in state: %w", err)
	}
	paramsCache.m[key] = p
	return p, hp, nil
}

// putBlob stores b under its SHA-256 (once) and returns the hash.
func putBlob(w contracts.KVStore, b []byte) ([]byte, error) {
	h := sha256.Sum256(b)
	existing, err := w.Get(BlobKey(h[:]))
	if err != nil {
		return nil, err
	}
	if existing == nil {
		if err := w.Set(BlobKey(h[:]), b); err != nil {
			return nil, err
		}
	}
	return h[:], nil
}

// GetBlob returns the blob with the given hash, or ErrNotFound.
func GetBlob(r contracts.Reader, hash []byte) ([]byte, error) {
	b, err := r.Get(BlobKey(hash))
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fmt.Errorf("%w: no blob %x", contracts.ErrNotFound, hash)
	}
	return b, nil
}

// GetEpoch returns key epoch e, or nil.
func GetEpoch(r contracts.Reader, e uint64) (*pb.KeyEpoch, error) {
	var ep pb.KeyEpoch
	ok, err := get(r, EpochKey(e), &ep)
	if !ok || err != nil {
		return nil, err
	}
	return &ep, nil
}

// GetRequest returns decryption request id, or nil.
func GetRequest(r contracts.Reader, id uint64) (*pb.DecryptionRequest, error) {
	var req pb.DecryptionRequest
	ok, err := get(r, RequestKey(id), &req)
	if !ok || err != nil {
		return nil, err
	}
	return &req, nil
}

// PendingRequests lists the pending requests in id order.
func PendingRequests(r contracts.Reader) ([]*pb.DecryptionRequest, error) {
	start, end := PendingPrefix()
	ids, err := contracts.IDsIn(r, start, end)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	out := make([]*pb.DecryptionRequest, 0, len(ids))
	for _, id := range ids {
		req, err := GetRequest(r, id)
		if err != nil {
			return nil, err
		}
		if req != nil {
			out = append(out, req)
		}
	}
	return out, nil
}

// memberOf returns the member index of the signer's hospital.
func memberOf(ctx *contracts.Context) (uint64, *pb.Hospital, error) {
	h, err := accounts.GetHospital(ctx.Store, ctx.Signer.Hospital)
	if err != nil {
		return 0, nil, err
	}
	if h == nil || h.MemberIndex == 0 {
		return 0, nil, fmt.Errorf("%w: %s is not the operator of a member hospital", contracts.ErrUnauthorized, ctx.Signer.Address)
	}
	if h.Operator != ctx.Signer.Address {
		return 0, nil, fmt.Errorf("%w: %s is not the operator of hospital %s", contracts.ErrUnauthorized, ctx.Signer.Address, h.Id)
	}
	return h.MemberIndex, h, nil
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func joinIdx(v []uint64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += itoa(x)
	}
	return s
}

// InitGenesis opens key epoch 1 over every member hospital when the
// alliance has HE parameters.
func InitGenesis(w contracts.KVStore) error {
	ap, err := accounts.GetParams(w)
	if err != nil {
		return err
	}
	if ap.He == nil {
		return nil
	}
	hs, err := accounts.Hospitals(w)
	if err != nil {
		return err
	}
	var members []uint64
	for _, h := range hs {
		members = append(members, h.MemberIndex)
	}
	slices.Sort(members)
	return set(w, EpochKey(1), &pb.KeyEpoch{Epoch: 1, Members: members, Threshold: ap.He.Threshold})
}

// get and set are this contract's names for the shared record codec.
var (
	get = contracts.GetRecord
	set = contracts.SetRecord
)

// commitDomain separates key-share commitments from every other SHA-256 in
// medchain.
const commitDomain = "medchain/he-key-commit/v1\x00"

// Commitment is what member dealer commits to, in key epoch e of chain
// chainID, before it posts publicKeyShare: SHA-256 over a domain string,
// the chain id (length-prefixed), e, dealer and the share. Binding the
// dealer and the epoch means no member can adopt another's commitment
// (it could never open it) or carry one over from another chain or epoch.
func Commitment(chainID string, e, dealer uint64, publicKeyShare []byte) []byte {
	h := sha256.New()
	h.Write([]byte(commitDomain))
	h.Write(u64(nil, uint64(len(chainID))))
	h.Write([]byte(chainID))
	h.Write(u64(nil, e))
	h.Write(u64(nil, dealer))
	h.Write(publicKeyShare)
	return h.Sum(nil)
}

// PutBlob stores b once under its SHA-256 and returns the hash: other
// contracts keep their ciphertexts in the same content-addressed store.
func PutBlob(w contracts.KVStore, b []byte) ([]byte, error) { return putBlob(w, b) }

// MemberOf returns the member index of the tx signer's hospital; the
// signer must be that hospital's operator.
func MemberOf(ctx *contracts.Context) (uint64, error) {
	m, _, err := memberOf(ctx)
	return m, err
}

// LatestReadyEpoch returns the newest key epoch with a collective key, or
// ErrWrongState if there is none yet.
func LatestReadyEpoch(r contracts.Reader) (*pb.KeyEpoch, error) {
	start, end := []byte{prefixEpoch}, []byte{prefixEpoch + 1}
	it, err := r.Iterator(start, end, false)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var ep pb.KeyEpoch
		if _, err := get(r, it.Key(), &ep); err != nil {
			return nil, err
		}
		if ep.Ready {
			return &ep, nil
		}
	}
	if err := it.Error(); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%w: the alliance has no collective key yet (the key ceremony is not complete)", contracts.ErrWrongState)
}

// StartEpoch opens the next key epoch (one more than the newest) for
// members, ascending member indexes, with decryption threshold t, and
// returns its number. Governance calls it when the member set or t
// changes; the members then run the ceremony as for epoch 1. Queries
// already running finish under their own epoch; new ones use the newest
// ready epoch (LatestReadyEpoch). Without HE parameters it does nothing
// and returns 0.
func StartEpoch(w contracts.KVStore, members []uint64, t uint32) (uint64, error) {
	ap, err := accounts.GetParams(w)
	if err != nil {
		return 0, err
	}
	if ap.He == nil {
		return 0, nil
	}
	ms := slices.Clone(members)
	slices.Sort(ms)
	switch {
	case len(ms) == 0 || len(ms) > he.MaxMembers:
		return 0, fmt.Errorf("%w: a key epoch has 1 to %d members, not %d", contracts.ErrWrongState, he.MaxMembers, len(ms))
	case len(slices.Compact(slices.Clone(ms))) != len(ms):
		return 0, fmt.Errorf("%w: member indexes %s repeat", contracts.ErrInvalidPayload, joinIdx(ms))
	case ms[0] == 0 || ms[len(ms)-1] > he.MaxMemberIndex:
		return 0, fmt.Errorf("%w: member indexes must be in [1, %d]", contracts.ErrInvalidPayload, he.MaxMemberIndex)
	case t < 1 || int(t) > len(ms):
		return 0, fmt.Errorf("%w: threshold %d must be in [1, %d members]", contracts.ErrWrongState, t, len(ms))
	}
	it, err := w.Iterator([]byte{prefixEpoch}, []byte{prefixEpoch + 1}, false)
	if err != nil {
		return 0, err
	}
	var next uint64 = 1
	if it.Valid() {
		k := it.Key()
		if len(k) != 9 {
			it.Close()
			return 0, fmt.Errorf("key epoch key %x is not 9 bytes", k)
		}
		next = binary.BigEndian.Uint64(k[1:]) + 1
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return 0, err
	}
	return next, set(w, EpochKey(next), &pb.KeyEpoch{Epoch: next, Members: ms, Threshold: t})
}
