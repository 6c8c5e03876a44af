package he

import (
	"testing"
)

// The benchmarks run each operation at the pinned parameters with the
// 4-member, t = 3 test alliance. "blob-B" is the size of the object the
// operation produces (or validates).

func BenchmarkNewParams(b *testing.B) {
	for b.Loop() {
		if _, err := NewParams(DefaultLiteral()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenSecretShare(b *testing.B) {
	p := testParams(b)
	for b.Loop() {
		if _, err := p.GenSecretShare(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenPublicKeyShare(b *testing.B) {
	a := testAlliance(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.GenPublicKeyShare(a.secrets[1], a.seed); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkValidatePublicKeyShare(b *testing.B) {
	a := testAlliance(b)
	for b.Loop() {
		if err := a.p.ValidatePublicKeyShare(a.ckgShares[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(a.ckgShares[0])), "blob-B")
}

func BenchmarkAggregatePublicKey4(b *testing.B) {
	a := testAlliance(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.AggregatePublicKey(a.seed, a.ckgShares); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkGenThresholdShares4(b *testing.B) {
	a := testAlliance(b)
	var out map[uint64][]byte
	for b.Loop() {
		var err error
		if out, err = a.p.GenThresholdShares(a.secrets[1], 1, a.t, a.members); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out[1])), "blob-B")
}

func BenchmarkCombineThresholdShares4(b *testing.B) {
	a := testAlliance(b)
	received := map[uint64][]byte{}
	for _, d := range a.members {
		dealt, err := a.p.GenThresholdShares(a.secrets[d], d, a.t, a.members)
		if err != nil {
			b.Fatal(err)
		}
		received[d] = dealt[1]
	}
	for b.Loop() {
		if _, err := a.p.CombineThresholdShares(1, a.t, received); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEncrypt(b *testing.B) {
	a := testAlliance(b)
	values := make([]int64, a.p.Slots())
	for i := range values {
		values[i] = int64(i) - 4096
	}
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.EncodeEncrypt(a.pk, values); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkValidateCiphertext(b *testing.B) {
	a := testAlliance(b)
	ct := a.encrypt(b, []int64{1})
	for b.Loop() {
		if err := a.p.ValidateCiphertext(ct); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(ct)), "blob-B")
}

func BenchmarkAdd4(b *testing.B) {
	a := testAlliance(b)
	cts := [][]byte{a.encrypt(b, []int64{1}), a.encrypt(b, []int64{2}), a.encrypt(b, []int64{3}), a.encrypt(b, []int64{4})}
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.Add(cts...); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkMaskDigest(b *testing.B) {
	a := testAlliance(b)
	ct := a.encrypt(b, []int64{1})
	for b.Loop() {
		if _, err := a.p.MaskDigest(ct); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenResearcherKey(b *testing.B) {
	p := testParams(b)
	var pub []byte
	for b.Loop() {
		var err error
		if _, pub, err = p.GenResearcherKey(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(pub)), "blob-B")
}

// keySwitchFixture is an aggregate, a researcher key and the active set's
// key-switching shares.
func keySwitchFixture(b *testing.B) (a *alliance, ct, priv, pub []byte, shares [][]byte) {
	a = testAlliance(b)
	var err error
	if ct, err = a.p.Add(a.encrypt(b, []int64{1}), a.encrypt(b, []int64{2})); err != nil {
		b.Fatal(err)
	}
	if priv, pub, err = a.p.GenResearcherKey(); err != nil {
		b.Fatal(err)
	}
	return a, ct, priv, pub, a.switchShares(b, []uint64{1, 2, 3}, ct, pub)
}

// BenchmarkGenKeySwitchShare generates shares on one ciphertext
// repeatedly, which the protocol forbids; timing only.
func BenchmarkGenKeySwitchShare(b *testing.B) {
	a, ct, _, pub, _ := keySwitchFixture(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.GenKeySwitchShare(a.ts[1], []uint64{1, 2, 3}, ct, pub); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkValidateKeySwitchShare(b *testing.B) {
	a, _, _, _, shares := keySwitchFixture(b)
	for b.Loop() {
		if err := a.p.ValidateKeySwitchShare(shares[0]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(shares[0])), "blob-B")
}

func BenchmarkKeySwitch3(b *testing.B) {
	a, ct, _, _, shares := keySwitchFixture(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.KeySwitch(ct, shares); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkDecrypt(b *testing.B) {
	a, ct, priv, _, shares := keySwitchFixture(b)
	res, err := a.p.KeySwitch(ct, shares)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := a.p.Decrypt(priv, res); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkGenDecryptShare(b *testing.B) {
	a, ct, _, _, _ := keySwitchFixture(b)
	var out []byte
	for b.Loop() {
		var err error
		if out, err = a.p.GenDecryptShare(a.ts[1], []uint64{1, 2, 3}, ct); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(out)), "blob-B")
}

func BenchmarkDecryptPublic3(b *testing.B) {
	a, ct, _, _, _ := keySwitchFixture(b)
	var shares [][]byte
	for _, m := range []uint64{1, 2, 3} {
		s, err := a.p.GenDecryptShare(a.ts[m], []uint64{1, 2, 3}, ct)
		if err != nil {
			b.Fatal(err)
		}
		shares = append(shares, s)
	}
	for b.Loop() {
		if _, err := a.p.DecryptPublic(ct, shares); err != nil {
			b.Fatal(err)
		}
	}
}
