package he

import (
	"math"
	"math/big"
	"testing"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
)

// noise returns the largest |e_j| and the standard deviation of the noise e
// of ct under sk, where T·(c0 + c1·s) = m + T·e (mod Q) in Lattigo's BGV.
func noise(tb testing.TB, p *Params, sk *rlwe.SecretKey, ct *rlwe.Ciphertext) (maxAbs, std float64) {
	tb.Helper()
	ringQ := p.ringQ()
	pt := rlwe.NewDecryptor(p.bgv, sk).DecryptNew(ct)
	v := ringQ.NewPoly()
	ringQ.INTT(pt.Value, v)
	ringQ.MulScalar(v, p.lit.T, v)
	coeffs := make([]*big.Int, p.bgv.N())
	for i := range coeffs {
		coeffs[i] = new(big.Int)
	}
	ringQ.PolyToBigintCentered(v, 1, coeffs)
	T := new(big.Float).SetUint64(p.lit.T)
	var sum2 float64
	for _, c := range coeffs {
		e, _ := new(big.Float).Quo(new(big.Float).SetInt(c), T).Float64()
		e = math.Round(e)
		maxAbs = math.Max(maxAbs, math.Abs(e))
		sum2 += e * e
	}
	return maxAbs, math.Sqrt(sum2 / float64(len(coeffs)))
}

// collectiveSecret is Σ s_i, which no party ever holds; tests only.
func (a *alliance) collectiveSecret() *rlwe.SecretKey {
	s := rlwe.NewSecretKey(a.p.bgv)
	for _, m := range a.members {
		a.p.bgv.RingQP().Add(s.Value, a.secrets[m].sk.Value, s.Value)
	}
	return s
}

func TestNoise(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	var cts [][]byte
	for range 4 {
		cts = append(cts, a.encrypt(t, []int64{1}))
	}
	agg, err := p.Add(cts...)
	if err != nil {
		t.Fatal(err)
	}
	aggCt, err := p.decodeCiphertext(kindCiphertext, agg)
	if err != nil {
		t.Fatal(err)
	}
	ctMax, ctStd := noise(t, p, a.collectiveSecret(), aggCt)
	t.Logf("sum of 4 fresh ciphertexts, 4 members: |e|max = 2^%.1f, σ = 2^%.1f", math.Log2(ctMax), math.Log2(ctStd))
	t.Run("the aggregate's own noise is far below the flooding", func(t *testing.T) {
		if ctMax > 1<<16 {
			t.Fatalf("|e_ct|max = %.0f", ctMax)
		}
	})
	t.Run("every share carries the uniform flooding", func(t *testing.T) {
		priv, pub, err := p.GenResearcherKey()
		if err != nil {
			t.Fatal(err)
		}
		res, err := p.KeySwitch(agg, a.switchShares(t, []uint64{1, 2, 4}, agg, pub))
		if err != nil {
			t.Fatal(err)
		}
		resCt, err := p.decodeCiphertext(kindResultCiphertext, res)
		if err != nil {
			t.Fatal(err)
		}
		sk := new(rlwe.SecretKey)
		if err := p.decode(kindResearcherSecret, priv, sk); err != nil {
			t.Fatal(err)
		}
		rMax, rStd := noise(t, p, sk, resCt)
		t.Logf("after the key switch by 3 members: |e|max = 2^%.2f, σ = 2^%.3f", math.Log2(rMax), math.Log2(rStd))
		// Three independent uniforms on [−B, B] sum to σ = B exactly and
		// |e| ≤ 3B; 8192 samples put σ within a few percent.
		B := math.Ldexp(1, FloodBits)
		if rStd < 0.95*B || rStd > 1.05*B || rMax > 3*B+ctMax+1<<20 {
			t.Fatalf("σ = %g·B, max = %g·B", rStd/B, rMax/B)
		}
	})
}
