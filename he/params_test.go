package he

import (
	"testing"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

func TestParameters(t *testing.T) {
	p, err := Parameters()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("the parameter set stays within the 128-bit security bound", func(t *testing.T) {
		if p.LogN() != 13 || p.LogQP() > 218 {
			t.Fatalf("LogN %d LogQP %.1f", p.LogN(), p.LogQP())
		}
	})
	t.Run("two encrypted count vectors add up exactly", func(t *testing.T) {
		kg := rlwe.NewKeyGenerator(p)
		sk, pk := kg.GenKeyPairNew()
		enc := bgv.NewEncryptor(p, pk)
		dec := bgv.NewDecryptor(p, sk)
		ecd := bgv.NewEncoder(p)
		eval := bgv.NewEvaluator(p, nil)
		a, b := make([]uint64, p.MaxSlots()), make([]uint64, p.MaxSlots())
		for i := range a {
			a[i], b[i] = uint64(i%100), uint64(3*i%50)
		}
		encrypt := func(v []uint64) *rlwe.Ciphertext {
			pt := bgv.NewPlaintext(p, p.MaxLevel())
			if err := ecd.Encode(v, pt); err != nil {
				t.Fatal(err)
			}
			ct, err := enc.EncryptNew(pt)
			if err != nil {
				t.Fatal(err)
			}
			return ct
		}
		sum, err := eval.AddNew(encrypt(a), encrypt(b))
		if err != nil {
			t.Fatal(err)
		}
		got := make([]uint64, p.MaxSlots())
		if err := ecd.Decode(dec.DecryptNew(sum), got); err != nil {
			t.Fatal(err)
		}
		for i := range got {
			if got[i] != a[i]+b[i] {
				t.Fatalf("slot %d: got %d want %d", i, got[i], a[i]+b[i])
			}
		}
	})
}
