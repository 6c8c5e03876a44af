package he

import (
	"sync"
	"testing"
)

var (
	paramsOnce   sync.Once
	sharedParams *Params
	paramsErr    error
)

// testParams returns the default parameters, built once per test binary.
func testParams(tb testing.TB) *Params {
	tb.Helper()
	paramsOnce.Do(func() { sharedParams, paramsErr = NewParams(DefaultLiteral()) })
	if paramsErr != nil {
		tb.Fatal(paramsErr)
	}
	return sharedParams
}

// alliance is the outcome of an in-process key ceremony.
type alliance struct {
	p         *Params
	members   []uint64
	t         int
	seed      []byte
	secrets   map[uint64]*SecretShare
	ckgShares [][]byte // in member order
	pk        []byte
	ts        map[uint64]*ThresholdSecret
}

// newAlliance runs the whole ceremony as the members' node workers and the
// contract would: secret shares, collective-key shares, aggregation, and
// the exchange of Shamir shares.
func newAlliance(tb testing.TB, members []uint64, t int) *alliance {
	tb.Helper()
	p := testParams(tb)
	a := &alliance{p: p, members: members, t: t, seed: CRPSeed("medchain-test", 1),
		secrets: map[uint64]*SecretShare{}, ts: map[uint64]*ThresholdSecret{}}
	dealt := map[uint64]map[uint64][]byte{} // dealer → recipient → share
	for _, m := range members {
		sk, err := p.GenSecretShare()
		if err != nil {
			tb.Fatal(err)
		}
		a.secrets[m] = sk
		share, err := p.GenPublicKeyShare(sk, a.seed)
		if err != nil {
			tb.Fatal(err)
		}
		if err := p.ValidatePublicKeyShare(share); err != nil {
			tb.Fatal(err)
		}
		a.ckgShares = append(a.ckgShares, share)
		if dealt[m], err = p.GenThresholdShares(sk, m, t, members); err != nil {
			tb.Fatal(err)
		}
	}
	var err error
	if a.pk, err = p.AggregatePublicKey(a.seed, a.ckgShares); err != nil {
		tb.Fatal(err)
	}
	for _, r := range members {
		received := map[uint64][]byte{}
		for _, d := range members {
			received[d] = dealt[d][r]
		}
		if a.ts[r], err = p.CombineThresholdShares(r, t, received); err != nil {
			tb.Fatal(err)
		}
	}
	return a
}

var (
	allianceOnce sync.Once
	sharedAll    *alliance
)

// testAlliance is a 4-member, t = 3 alliance shared by the tests of one
// binary. Tests must not key-switch one ciphertext twice with it — not
// that a test would leak anything, but the tests model the rule.
func testAlliance(tb testing.TB) *alliance {
	tb.Helper()
	allianceOnce.Do(func() { sharedAll = newAlliance(tb, []uint64{1, 2, 3, 4}, 3) })
	if sharedAll == nil {
		tb.Fatal("alliance setup failed")
	}
	return sharedAll
}

// encrypt encrypts values under the alliance key or fails the test.
func (a *alliance) encrypt(tb testing.TB, values []int64) []byte {
	tb.Helper()
	ct, err := a.p.EncodeEncrypt(a.pk, values)
	if err != nil {
		tb.Fatal(err)
	}
	return ct
}

// switchShares has every member of active produce its key-switching share.
func (a *alliance) switchShares(tb testing.TB, active []uint64, ct, pub []byte) [][]byte {
	tb.Helper()
	var shares [][]byte
	for _, m := range active {
		s, err := a.p.GenKeySwitchShare(a.ts[m], active, ct, pub)
		if err != nil {
			tb.Fatal(err)
		}
		if err := a.p.ValidateKeySwitchShare(s); err != nil {
			tb.Fatal(err)
		}
		shares = append(shares, s)
	}
	return shares
}
