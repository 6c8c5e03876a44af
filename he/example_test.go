package he_test

import (
	"fmt"

	"github.com/medchain/medchain/he"
)

// Three hospitals, any two of which can release a result, sum their counts
// for a researcher. In medchain each step below runs in a different place:
// the members' node workers (secret, randomised steps), the contract in
// FinalizeBlock (Validate*, AggregatePublicKey, Add, KeySwitch) and the
// researcher (GenResearcherKey, Decrypt).
func Example() {
	p, err := he.NewParams(he.DefaultLiteral())
	if err != nil {
		panic(err)
	}
	members, t := []uint64{1, 2, 3}, 2
	seed := he.CRPSeed("example-chain", 1)

	// Key ceremony: collective-key shares go on chain; Shamir shares go,
	// sealed, to each recipient.
	var ckg [][]byte
	dealt := map[uint64]map[uint64][]byte{}
	for _, m := range members {
		sk, _ := p.GenSecretShare()
		share, _ := p.GenPublicKeyShare(sk, seed)
		ckg = append(ckg, share)
		dealt[m], _ = p.GenThresholdShares(sk, m, t, members)
	}
	pk, _ := p.AggregatePublicKey(seed, ckg)
	secrets := map[uint64]*he.ThresholdSecret{}
	for _, r := range members {
		received := map[uint64][]byte{}
		for _, d := range members {
			received[d] = dealt[d][r]
		}
		secrets[r], _ = p.CombineThresholdShares(r, t, received)
	}

	// A query: each hospital encrypts its counts; the chain adds them.
	var cts [][]byte
	for i, counts := range [][]int64{{12, -3}, {30, 4}, {7, 0}} {
		ct, _ := p.EncodeEncrypt(pk, counts)
		if err := p.ValidateCiphertext(ct); err != nil {
			panic(fmt.Sprint(i, err))
		}
		cts = append(cts, ct)
	}
	total, _ := p.Add(cts...)

	// Release: the chain fixes the active set {3, 1}; each posts one share.
	priv, pub, _ := p.GenResearcherKey()
	active := []uint64{3, 1}
	var shares [][]byte
	for _, m := range active {
		s, err := p.GenKeySwitchShare(secrets[m], active, total, pub)
		if err != nil {
			panic(err)
		}
		shares = append(shares, s)
	}
	result, _ := p.KeySwitch(total, shares)

	values, _ := p.Decrypt(priv, result)
	fmt.Println(values[:3])
	// Output: [49 1 0]
}
