package he

import (
	"bytes"
	"errors"
	"runtime"
	"slices"
	"testing"
)

// contributions are the four members' statistics: negatives, values near
// ±2^40, and vectors shorter than the slot count.
func contributions(slots int) [][]int64 {
	vs := make([][]int64, 4)
	for m := range vs {
		vs[m] = make([]int64, slots-m*1000)
		for i := range vs[m] {
			vs[m][i] = int64((i*7919+m*104729)%20001) - 10000
		}
	}
	vs[0][0], vs[1][0], vs[2][0], vs[3][0] = 1<<40, 1<<40, -(1 << 40), 5
	vs[0][1], vs[1][1] = -(1 << 40), -(1<<40 - 1)
	return vs
}

func sum(slots int, vs [][]int64) []int64 {
	out := make([]int64, slots)
	for _, v := range vs {
		for i, x := range v {
			out[i] += x
		}
	}
	return out
}

func differing(a, b []int64) int {
	n := 0
	for i := range a {
		if a[i] != b[i] {
			n++
		}
	}
	return n
}

func TestProtocol(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	vs := contributions(p.Slots())
	want := sum(p.Slots(), vs)
	var cts [][]byte
	for _, v := range vs {
		ct := a.encrypt(t, v)
		if err := p.ValidateCiphertext(ct); err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	agg, err := p.Add(cts...)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	if err := p.ValidateResearcherKey(pub); err != nil {
		t.Fatal(err)
	}
	active := []uint64{3, 1, 4} // the order the chain fixed
	shares := a.switchShares(t, active, agg, pub)

	t.Run("t shares switch the sum to the researcher, who decrypts it exactly", func(t *testing.T) {
		res, err := p.KeySwitch(agg, shares)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Decrypt(priv, res)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, want) {
			t.Fatalf("%d slots differ; slot 0 got %d want %d", differing(got, want), got[0], want[0])
		}
	})
	t.Run("t-1 shares do not decrypt", func(t *testing.T) {
		for drop := range shares {
			fewer := slices.Delete(slices.Clone(shares), drop, drop+1)
			res, err := p.KeySwitch(agg, fewer)
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Decrypt(priv, res)
			if err != nil {
				t.Fatal(err)
			}
			if n := differing(got, want); n < p.Slots()-16 {
				t.Fatalf("without share %d, only %d of %d slots differ from the sum", drop, n, p.Slots())
			}
		}
	})
	t.Run("another active set decrypts another ciphertext", func(t *testing.T) {
		ct := a.encrypt(t, []int64{-1, 2, -3})
		res, err := p.KeySwitch(ct, a.switchShares(t, []uint64{2, 3, 4}, ct, pub))
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Decrypt(priv, res)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got[:4], []int64{-1, 2, -3, 0}) || differing(got, make([]int64, len(got))) != 3 {
			t.Fatalf("got %v...", got[:4])
		}
	})
	t.Run("a public decryption by t members reveals the sum to all", func(t *testing.T) {
		ct, err := p.Add(a.encrypt(t, []int64{10, -20}), a.encrypt(t, []int64{5, 7}))
		if err != nil {
			t.Fatal(err)
		}
		active := []uint64{1, 2, 4}
		var ds [][]byte
		for _, m := range active {
			s, err := p.GenDecryptShare(a.ts[m], active, ct)
			if err != nil {
				t.Fatal(err)
			}
			if err := p.ValidateDecryptShare(s); err != nil {
				t.Fatal(err)
			}
			ds = append(ds, s)
		}
		got, err := p.DecryptPublic(ct, ds)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != 15 || got[1] != -13 || differing(got[2:], make([]int64, len(got)-2)) != 0 {
			t.Fatalf("got %v...", got[:4])
		}
		again, err := p.DecryptPublic(ct, [][]byte{ds[2], ds[0], ds[1]})
		if err != nil || !slices.Equal(again, got) {
			t.Fatalf("public decryption is not deterministic (err %v)", err)
		}
		two, err := p.DecryptPublic(ct, ds[:2])
		if err != nil {
			t.Fatal(err)
		}
		if two[0] == 15 && two[1] == -13 {
			t.Fatal("t-1 decryption shares decrypted")
		}
	})
	t.Run("Add, AggregatePublicKey and KeySwitch are byte-identical across runs, orders and GOMAXPROCS", func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		rev := func(bs [][]byte) [][]byte { r := slices.Clone(bs); slices.Reverse(r); return r }
		res, _ := p.KeySwitch(agg, shares)
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			for _, order := range [][][]byte{cts, rev(cts)} {
				if again, err := p.Add(order...); err != nil || !bytes.Equal(again, agg) {
					t.Fatalf("Add differs (GOMAXPROCS %d, err %v)", procs, err)
				}
			}
			for _, order := range [][][]byte{a.ckgShares, rev(a.ckgShares)} {
				if again, err := p.AggregatePublicKey(a.seed, order); err != nil || !bytes.Equal(again, a.pk) {
					t.Fatalf("AggregatePublicKey differs (GOMAXPROCS %d, err %v)", procs, err)
				}
			}
			for _, order := range [][][]byte{shares, rev(shares)} {
				if again, err := p.KeySwitch(agg, order); err != nil || !bytes.Equal(again, res) {
					t.Fatalf("KeySwitch differs (GOMAXPROCS %d, err %v)", procs, err)
				}
			}
		}
		if !bytes.Equal(CRPSeed("medchain-test", 1), a.seed) || bytes.Equal(CRPSeed("medchain-test", 2), a.seed) || bytes.Equal(CRPSeed("medchain-tes", 1), a.seed) {
			t.Fatal("CRPSeed is not a function of exactly chain id and epoch")
		}
	})
	t.Run("results are tagged so they cannot be mistaken for other blobs", func(t *testing.T) {
		res, _ := p.KeySwitch(agg, shares)
		if err := p.ValidateCiphertext(res); !errors.Is(err, ErrMalformed) {
			t.Fatalf("a result passes as a collective ciphertext: %v", err)
		}
		if _, err := p.KeySwitch(res, shares); err == nil {
			t.Fatal("a result was key-switched again")
		}
		if _, err := p.Decrypt(priv, agg); err == nil {
			t.Fatal("Decrypt took a collective-key ciphertext")
		}
		if _, err := p.EncodeEncrypt(pub, []int64{1}); err == nil {
			t.Fatal("EncodeEncrypt took a researcher key for the collective key")
		}
		if _, err := p.GenKeySwitchShare(a.ts[1], []uint64{1, 2, 3}, agg, a.pk); err == nil {
			t.Fatal("GenKeySwitchShare took the collective key as the target")
		}
	})
	t.Run("the mask digest names the mask, not the whole ciphertext", func(t *testing.T) {
		d1, err := p.MaskDigest(agg)
		if err != nil {
			t.Fatal(err)
		}
		shifted, err := p.Add(agg, a.encrypt(t, nil))
		if err != nil {
			t.Fatal(err)
		}
		d2, _ := p.MaskDigest(shifted)
		if d1 == d2 {
			t.Fatal("different masks, same digest")
		}
		// The same mask with another c0: what a crafted contribution yields.
		same := slices.Clone(agg)
		c0 := p.layouts[kindCiphertext].coeffs[0].lo + tagSize
		clear(same[c0 : c0+8]) // c0's first coefficient
		if err := p.ValidateCiphertext(same); err != nil {
			t.Fatal(err)
		}
		if d3, _ := p.MaskDigest(same); d3 != d1 || bytes.Equal(same, agg) {
			t.Fatal("same mask, different digest")
		}
	})
}

func TestKeySwitchShareRefuses(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	ct := a.encrypt(t, []int64{1})
	_, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		member uint64
		active []uint64
	}{
		{"an active set smaller than t", 1, []uint64{1, 2}},
		{"an active set larger than t", 1, []uint64{1, 2, 3, 4}},
		{"an active set without the member", 1, []uint64{2, 3, 4}},
		{"an active set with a non-member", 1, []uint64{1, 2, 5}},
		{"an active set with a repeated member", 1, []uint64{1, 2, 2}},
		{"an active set with index 0", 1, []uint64{0, 1, 2}},
	} {
		t.Run("it refuses "+c.name, func(t *testing.T) {
			if _, err := p.GenKeySwitchShare(a.ts[c.member], c.active, ct, pub); err == nil {
				t.Fatal("accepted")
			}
			if _, err := p.GenDecryptShare(a.ts[c.member], c.active, ct); err == nil {
				t.Fatal("accepted for a decryption share")
			}
		})
	}
	t.Run("it refuses a nil threshold secret", func(t *testing.T) {
		if _, err := p.GenKeySwitchShare(nil, []uint64{1, 2, 3}, ct, pub); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("KeySwitch and DecryptPublic refuse no shares", func(t *testing.T) {
		if _, err := p.KeySwitch(ct, nil); err == nil {
			t.Fatal("KeySwitch accepted")
		}
		if _, err := p.DecryptPublic(ct, nil); err == nil {
			t.Fatal("DecryptPublic accepted")
		}
	})
}

func TestCeremonyRefuses(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	sk := a.secrets[1]
	t.Run("AggregatePublicKey refuses a replayed share", func(t *testing.T) {
		if _, err := p.AggregatePublicKey(a.seed, [][]byte{a.ckgShares[0], a.ckgShares[1], a.ckgShares[0]}); err == nil {
			t.Fatal("accepted")
		}
	})
	t.Run("AggregatePublicKey refuses no shares and a short seed", func(t *testing.T) {
		if _, err := p.AggregatePublicKey(a.seed, nil); err == nil {
			t.Fatal("accepted no shares")
		}
		if _, err := p.AggregatePublicKey(a.seed[:31], a.ckgShares); err == nil {
			t.Fatal("accepted a short seed")
		}
	})
	t.Run("GenThresholdShares refuses bad member sets and thresholds", func(t *testing.T) {
		for _, c := range []struct {
			own     uint64
			t       int
			members []uint64
		}{
			{1, 3, []uint64{1, 2, 2, 4}},
			{5, 3, []uint64{1, 2, 3, 4}},
			{1, 0, []uint64{1, 2, 3, 4}},
			{1, 5, []uint64{1, 2, 3, 4}},
			{1, 1, []uint64{1, MaxMemberIndex + 1}},
			{1, 1, nil},
		} {
			if _, err := p.GenThresholdShares(sk, c.own, c.t, c.members); err == nil {
				t.Fatalf("accepted own %d, t %d, members %v", c.own, c.t, c.members)
			}
		}
	})
	t.Run("CombineThresholdShares refuses misrouted, mismatched or missing shares", func(t *testing.T) {
		dealt := map[uint64]map[uint64][]byte{}
		for _, m := range a.members {
			var err error
			if dealt[m], err = p.GenThresholdShares(a.secrets[m], m, 3, a.members); err != nil {
				t.Fatal(err)
			}
		}
		for r := range dealt[1] {
			if err := p.ValidateThresholdShare(dealt[1][r]); err != nil {
				t.Fatal(err)
			}
		}
		good := func() map[uint64][]byte {
			return map[uint64][]byte{1: dealt[1][2], 2: dealt[2][2], 3: dealt[3][2], 4: dealt[4][2]}
		}
		if _, err := p.CombineThresholdShares(2, 3, good()); err != nil {
			t.Fatal(err)
		}
		misrouted := good()
		misrouted[3] = dealt[3][4]
		swapped := good()
		swapped[3], swapped[4] = swapped[4], swapped[3]
		missingOwn := good()
		delete(missingOwn, 2)
		for name, c := range map[string]struct {
			t        int
			received map[uint64][]byte
		}{
			"a share for another recipient": {3, misrouted},
			"shares under the wrong dealer": {3, swapped},
			"no share from itself":          {3, missingOwn},
			"another threshold":             {2, good()},
		} {
			if _, err := p.CombineThresholdShares(2, c.t, c.received); err == nil {
				t.Fatalf("accepted %s", name)
			}
		}
	})
}

func TestSecretsRoundTrip(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	t.Run("a stored secret share makes the same collective-key share structure", func(t *testing.T) {
		b, err := a.secrets[2].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		sk, err := p.UnmarshalSecretShare(b)
		if err != nil {
			t.Fatal(err)
		}
		if again, _ := sk.MarshalBinary(); !bytes.Equal(again, b) {
			t.Fatal("secret share does not round-trip")
		}
		if p.ValidatePublicKeyShare(b) == nil {
			t.Fatal("a secret share passes as a collective-key share")
		}
	})
	t.Run("a stored threshold secret still switches keys", func(t *testing.T) {
		b, err := a.ts[4].MarshalBinary()
		if err != nil {
			t.Fatal(err)
		}
		ts, err := p.UnmarshalThresholdSecret(b)
		if err != nil {
			t.Fatal(err)
		}
		if ts.Index() != 4 || ts.Threshold() != 3 || !slices.Equal(ts.Members(), a.members) {
			t.Fatalf("index %d, t %d, members %v", ts.Index(), ts.Threshold(), ts.Members())
		}
		priv, pub, err := p.GenResearcherKey()
		if err != nil {
			t.Fatal(err)
		}
		ct := a.encrypt(t, []int64{42, -42})
		active := []uint64{1, 2, 4}
		var shares [][]byte
		for _, m := range active {
			src := a.ts[m]
			if m == 4 {
				src = ts
			}
			s, err := p.GenKeySwitchShare(src, active, ct, pub)
			if err != nil {
				t.Fatal(err)
			}
			shares = append(shares, s)
		}
		res, err := p.KeySwitch(ct, shares)
		if err != nil {
			t.Fatal(err)
		}
		got, err := p.Decrypt(priv, res)
		if err != nil || got[0] != 42 || got[1] != -42 {
			t.Fatalf("got %v, err %v", got[:2], err)
		}
	})
}

func TestEncodeEncryptRefuses(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	if _, err := p.EncodeEncrypt(a.pk, make([]int64, p.Slots()+1)); err == nil {
		t.Fatal("accepted more values than slots")
	}
	if _, err := p.EncodeEncrypt(a.pk, []int64{p.MaxAbs() + 1}); err == nil {
		t.Fatal("accepted a value above MaxAbs")
	}
	if _, err := p.EncodeEncrypt(a.pk, []int64{-p.MaxAbs() - 1}); err == nil {
		t.Fatal("accepted a value below -MaxAbs")
	}
	if _, err := p.Add(); err == nil {
		t.Fatal("Add accepted nothing")
	}
}

func TestMaxAbsIsExact(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	ct := a.encrypt(t, []int64{p.MaxAbs(), -p.MaxAbs(), 0, -1})
	res, err := p.KeySwitch(ct, a.switchShares(t, []uint64{1, 2, 3}, ct, pub))
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.Decrypt(priv, res)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got[:4], []int64{p.MaxAbs(), -p.MaxAbs(), 0, -1}) {
		t.Fatalf("got %v", got[:4])
	}
}

func TestFixedPoint(t *testing.T) {
	vs, err := ToFixed([]float64{1.5, -2.25, 0, 1e-9}, 16)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(vs, []int64{1.5 * 65536, -2.25 * 65536, 0, 0}) {
		t.Fatalf("got %v", vs)
	}
	if back, err := FromFixed(vs, 16); err != nil || back[0] != 1.5 || back[1] != -2.25 {
		t.Fatalf("got %v, %v", back, err)
	}
	if _, err := FromFixed(vs, MaxFracBits+1); err == nil {
		t.Fatal("FromFixed accepted too many fractional bits")
	}
	for _, bad := range []float64{1e300, -1e300} {
		if _, err := ToFixed([]float64{bad}, 16); err == nil {
			t.Fatalf("accepted %g", bad)
		}
	}
	if _, err := ToFixed([]float64{1}, MaxFracBits+1); err == nil {
		t.Fatal("accepted too many fractional bits")
	}
}

func TestConcurrentUse(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	_, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 4)
	for g := range 4 {
		go func() {
			errs <- func() error {
				ct, err := p.EncodeEncrypt(a.pk, []int64{int64(g)})
				if err != nil {
					return err
				}
				sum, err := p.Add(ct, ct)
				if err != nil {
					return err
				}
				if _, err := p.GenKeySwitchShare(a.ts[uint64(g%3+1)], []uint64{1, 2, 3}, sum, pub); err != nil {
					return err
				}
				_, err = p.AggregatePublicKey(a.seed, a.ckgShares)
				return err
			}()
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
