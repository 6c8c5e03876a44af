package he

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
)

// Members are identified by an index in [1, MaxMemberIndex], used as their
// Shamir evaluation point; a member set holds at most MaxMembers indexes.
const (
	MaxMemberIndex = 1<<16 - 1
	MaxMembers     = 1024
)

func checkMembers(members []uint64) error {
	if len(members) == 0 || len(members) > MaxMembers {
		return fmt.Errorf("he: %d members, want 1 to %d", len(members), MaxMembers)
	}
	for i, m := range members {
		if m == 0 || m > MaxMemberIndex {
			return fmt.Errorf("he: member index %d outside [1, %d]", m, MaxMemberIndex)
		}
		if slices.Index(members, m) != i {
			return fmt.Errorf("he: member index %d repeated", m)
		}
	}
	return nil
}

func checkThreshold(t int, members []uint64) error {
	if t < 1 || t > len(members) {
		return fmt.Errorf("he: threshold %d outside [1, %d]", t, len(members))
	}
	return nil
}

func points(members []uint64) []multiparty.ShamirPublicPoint {
	pts := make([]multiparty.ShamirPublicPoint, len(members))
	for i, m := range members {
		pts[i] = multiparty.ShamirPublicPoint(m)
	}
	return pts
}

// GenThresholdShares deals the member's secret share s_own with Lattigo's
// Thresholdizer: a random polynomial f of degree t−1 with f(0) = s_own,
// evaluated at every member's index (own included). It returns one blob
// per recipient index, which the caller seals to that recipient's key.
// Each blob names dealer, recipient and t, so a misrouted or mismatched
// share is refused when combined. Randomised: node workers only, once per
// key epoch; resend the same blobs rather than dealing again.
func (p *Params) GenThresholdShares(sk *SecretShare, own uint64, t int, members []uint64) (map[uint64][]byte, error) {
	if err := p.checkSecretShare(sk); err != nil {
		return nil, err
	}
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	if !slices.Contains(members, own) {
		return nil, fmt.Errorf("he: dealer %d is not a member", own)
	}
	if err := checkThreshold(t, members); err != nil {
		return nil, err
	}
	thr := multiparty.NewThresholdizer(p.bgv)
	poly, err := thr.GenShamirPolynomial(t, sk.sk)
	if err != nil {
		return nil, fmt.Errorf("he: Shamir polynomial: %w", err)
	}
	out := make(map[uint64][]byte, len(members))
	for _, m := range members {
		share := thr.AllocateThresholdSecretShare()
		thr.GenShamirSecretShare(multiparty.ShamirPublicPoint(m), poly, &share)
		fields := binary.BigEndian.AppendUint64(nil, own)
		fields = binary.BigEndian.AppendUint64(fields, m)
		fields = binary.BigEndian.AppendUint64(fields, uint64(t))
		if out[m], err = p.encode(kindThresholdShare, fields, share); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// thresholdShareHeader validates a threshold-share blob and returns its
// fields.
func (p *Params) thresholdShareHeader(b []byte) (dealer, recipient uint64, t int, body []byte, err error) {
	fields, body, err := p.split(kindThresholdShare, b)
	if err != nil {
		return 0, 0, 0, nil, err
	}
	dealer = binary.BigEndian.Uint64(fields[0:])
	recipient = binary.BigEndian.Uint64(fields[8:])
	tt := binary.BigEndian.Uint64(fields[16:])
	if dealer == 0 || dealer > MaxMemberIndex || recipient == 0 || recipient > MaxMemberIndex || tt == 0 || tt > MaxMembers {
		return 0, 0, 0, nil, fmt.Errorf("%w %s: dealer %d, recipient %d or threshold %d out of range", ErrMalformed, kindThresholdShare, dealer, recipient, tt)
	}
	return dealer, recipient, int(tt), body, nil
}

// ValidateThresholdShare checks that b is a canonical threshold share
// (after the recipient unsealed it).
func (p *Params) ValidateThresholdShare(b []byte) error {
	_, _, _, _, err := p.thresholdShareHeader(b)
	return err
}

// ThresholdSecret is a member's t-out-of-N share of the collective secret
// key: the sum of the Shamir shares it received from every member. It
// never leaves the member's node (MarshalBinary for its encrypted store).
type ThresholdSecret struct {
	p       *Params
	own     uint64
	t       int
	members []uint64 // sorted
	share   multiparty.ShamirSecretShare
}

// Index is the member's own index.
func (ts *ThresholdSecret) Index() uint64 { return ts.own }

// Threshold is t: the exact size of every active set.
func (ts *ThresholdSecret) Threshold() int { return ts.t }

// Members returns the member indexes of the key epoch, sorted.
func (ts *ThresholdSecret) Members() []uint64 { return slices.Clone(ts.members) }

// CombineThresholdShares sums the Shamir shares member own received, one
// from every member of the key epoch (received maps dealer index to the
// unsealed blob; its keys are the member set, own included), into the
// member's ThresholdSecret. Every share must name its dealer, own as
// recipient, and threshold t. Nothing here can detect a dealer that dealt
// inconsistent shares (there is no verifiable secret sharing): the
// result then fails to decrypt, which the chain sees as a failed release.
func (p *Params) CombineThresholdShares(own uint64, t int, received map[uint64][]byte) (*ThresholdSecret, error) {
	members := make([]uint64, 0, len(received))
	for m := range received {
		members = append(members, m)
	}
	slices.Sort(members)
	if err := checkMembers(members); err != nil {
		return nil, err
	}
	if !slices.Contains(members, own) {
		return nil, fmt.Errorf("he: no share from own index %d", own)
	}
	if err := checkThreshold(t, members); err != nil {
		return nil, err
	}
	thr := multiparty.NewThresholdizer(p.bgv)
	sum := thr.AllocateThresholdSecretShare()
	for i, dealer := range members {
		d, r, tt, body, err := p.thresholdShareHeader(received[dealer])
		if err != nil {
			return nil, fmt.Errorf("share from %d: %w", dealer, err)
		}
		if d != dealer || r != own || tt != t {
			return nil, fmt.Errorf("he: share from %d names dealer %d, recipient %d, threshold %d; want %d, %d, %d", dealer, d, r, tt, dealer, own, t)
		}
		var s multiparty.ShamirSecretShare
		if err := unmarshal(kindThresholdShare, body, &s); err != nil {
			return nil, fmt.Errorf("share from %d: %w", dealer, err)
		}
		if i == 0 {
			sum = s
		} else if err := thr.AggregateShares(sum, s, &sum); err != nil {
			return nil, fmt.Errorf("he: share from %d: %w", dealer, err)
		}
	}
	return &ThresholdSecret{p: p, own: own, t: t, members: members, share: sum}, nil
}

// MarshalBinary serialises the threshold secret for the node's encrypted
// store: tag, own index, t, member count, members, then the share.
func (ts *ThresholdSecret) MarshalBinary() ([]byte, error) {
	body, err := ts.share.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: marshal %s: %w", kindThresholdSecret, err)
	}
	t := tag(kindThresholdSecret)
	out := append([]byte{}, t[:]...)
	out = binary.BigEndian.AppendUint64(out, ts.own)
	out = binary.BigEndian.AppendUint64(out, uint64(ts.t))
	out = binary.BigEndian.AppendUint64(out, uint64(len(ts.members)))
	for _, m := range ts.members {
		out = binary.BigEndian.AppendUint64(out, m)
	}
	return append(out, body...), nil
}

// UnmarshalThresholdSecret validates and decodes a threshold secret stored
// by ThresholdSecret.MarshalBinary.
func (p *Params) UnmarshalThresholdSecret(b []byte) (*ThresholdSecret, error) {
	const hdr = tagSize + 3*8
	l := p.layouts[kindThresholdSecret]
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w %s: %s", ErrMalformed, kindThresholdSecret, fmt.Sprintf(format, a...))
	}
	if len(b) < hdr {
		return nil, bad("%d bytes, want at least %d", len(b), hdr)
	}
	if t := tag(kindThresholdSecret); string(b[:tagSize]) != string(t[:]) {
		return nil, bad("tag %x, want %x", b[:tagSize], t[:])
	}
	own := binary.BigEndian.Uint64(b[tagSize:])
	t := binary.BigEndian.Uint64(b[tagSize+8:])
	n := binary.BigEndian.Uint64(b[tagSize+16:])
	if n == 0 || n > MaxMembers {
		return nil, bad("%d members, want 1 to %d", n, MaxMembers)
	}
	if want := hdr + 8*int(n) + len(l.tmpl); len(b) != want {
		return nil, bad("%d bytes, want %d", len(b), want)
	}
	members := make([]uint64, n)
	for i := range members {
		members[i] = binary.BigEndian.Uint64(b[hdr+8*i:])
	}
	if err := checkMembers(members); err != nil || !slices.IsSorted(members) {
		return nil, bad("member list is not sorted, distinct and in range")
	}
	if !slices.Contains(members, own) || t == 0 || t > n {
		return nil, bad("own index %d or threshold %d does not fit the %d members", own, t, n)
	}
	body := b[hdr+8*int(n):]
	if err := l.checkBody(body); err != nil {
		return nil, err
	}
	var s multiparty.ShamirSecretShare
	if err := unmarshal(kindThresholdSecret, body, &s); err != nil {
		return nil, err
	}
	return &ThresholdSecret{p: p, own: own, t: int(t), members: members, share: s}, nil
}

// additiveShare turns the member's threshold secret into its additive
// share of the collective secret for one active set (Lattigo's Combiner:
// the Shamir share times its Lagrange coefficient). activeSet must hold
// exactly t distinct members, own included; it is the set the chain fixed
// for the request.
func (p *Params) additiveShare(ts *ThresholdSecret, activeSet []uint64) (*rlwe.SecretKey, error) {
	if ts == nil {
		return nil, errors.New("he: nil threshold secret")
	}
	if ts.p != p && !ts.p.bgv.Equal(&p.bgv) {
		return nil, errors.New("he: threshold secret belongs to other parameters")
	}
	if len(activeSet) != ts.t {
		return nil, fmt.Errorf("he: active set has %d members, want exactly t = %d", len(activeSet), ts.t)
	}
	if err := checkMembers(activeSet); err != nil {
		return nil, err
	}
	for _, m := range activeSet {
		if !slices.Contains(ts.members, m) {
			return nil, fmt.Errorf("he: active member %d is not a member of the key epoch", m)
		}
	}
	if !slices.Contains(activeSet, ts.own) {
		return nil, fmt.Errorf("he: member %d is not in the active set", ts.own)
	}
	pts := points(activeSet)
	cmb := multiparty.NewCombiner(p.bgv, multiparty.ShamirPublicPoint(ts.own), pts, ts.t)
	sk := rlwe.NewSecretKey(p.bgv)
	if err := cmb.GenAdditiveShare(pts, multiparty.ShamirPublicPoint(ts.own), ts.share, sk); err != nil {
		return nil, fmt.Errorf("he: combine: %w", err)
	}
	return sk, nil
}
