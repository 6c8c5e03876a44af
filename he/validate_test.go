package he

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// hostileCase is one kind of blob: a valid specimen and its validator.
type hostileCase struct {
	name     string
	kind     kind
	valid    []byte
	validate func([]byte) error
}

// hostileCases builds a valid blob of every kind this package serialises.
func hostileCases(t *testing.T) []hostileCase {
	a := testAlliance(t)
	p := a.p
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	ct := a.encrypt(t, []int64{1, -2, 3})
	active := []uint64{1, 2, 3}
	ks := a.switchShares(t, active, ct, pub)
	res, err := p.KeySwitch(ct, ks)
	if err != nil {
		t.Fatal(err)
	}
	ds, err := p.GenDecryptShare(a.ts[1], active, a.encrypt(t, []int64{7}))
	if err != nil {
		t.Fatal(err)
	}
	dealt, err := p.GenThresholdShares(a.secrets[1], 1, 3, a.members)
	if err != nil {
		t.Fatal(err)
	}
	sk, err := a.secrets[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	ts, err := a.ts[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	split := func(k kind) func([]byte) error {
		return func(b []byte) error { _, _, err := p.split(k, b); return err }
	}
	return []hostileCase{
		{"ciphertext", kindCiphertext, ct, p.ValidateCiphertext},
		{"key-switching share", kindKeySwitchShare, ks[0], p.ValidateKeySwitchShare},
		{"collective-key share", kindPublicKeyShare, a.ckgShares[0], p.ValidatePublicKeyShare},
		{"collective public key", kindPublicKey, a.pk, p.ValidatePublicKey},
		{"researcher public key", kindResearcherKey, pub, p.ValidateResearcherKey},
		{"decryption share", kindDecryptShare, ds, p.ValidateDecryptShare},
		{"threshold share", kindThresholdShare, dealt[2], p.ValidateThresholdShare},
		{"result ciphertext", kindResultCiphertext, res, split(kindResultCiphertext)},
		{"researcher secret key", kindResearcherSecret, priv, split(kindResearcherSecret)},
		{"secret share", kindSecretShare, sk, func(b []byte) error { _, err := p.UnmarshalSecretShare(b); return err }},
		{"threshold secret", kindThresholdSecret, ts, func(b []byte) error { _, err := p.UnmarshalThresholdSecret(b); return err }},
	}
}

// reject asserts that validate refuses b with ErrMalformed, without panicking.
func reject(t *testing.T, what string, validate func([]byte) error, b []byte) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Fatalf("%s: panicked: %v", what, r)
		}
	}()
	if err := validate(b); err == nil {
		t.Fatalf("%s: accepted", what)
	} else if !errors.Is(err, ErrMalformed) {
		t.Fatalf("%s: error does not wrap ErrMalformed: %v", what, err)
	}
}

func TestValidatorsRefuseHostileBytes(t *testing.T) {
	p := testParams(t)
	cases := hostileCases(t)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range cases {
		l := p.layouts[c.kind]
		// Offset of the Lattigo part within the blob.
		body := len(c.valid) - len(l.tmpl)
		t.Run(c.name, func(t *testing.T) {
			t.Run("a valid one passes", func(t *testing.T) {
				if err := c.validate(c.valid); err != nil {
					t.Fatal(err)
				}
			})
			t.Run("empty and nil are refused", func(t *testing.T) {
				reject(t, "nil", c.validate, nil)
				reject(t, "empty", c.validate, []byte{})
			})
			t.Run("truncations at every structure boundary and every 61st byte are refused", func(t *testing.T) {
				cuts := []int{1, tagSize - 1, tagSize, tagSize + 1, body - 1, body, body + 1}
				for _, s := range l.fixed {
					cuts = append(cuts, body+s.lo-1, body+s.lo, body+s.lo+1, body+s.hi-1, body+s.hi, body+s.hi+1)
				}
				for _, s := range l.coeffs {
					cuts = append(cuts, body+s.lo+4, body+s.hi-8, body+s.hi-1)
				}
				for k := 0; k < len(c.valid); k += 61 {
					cuts = append(cuts, k)
				}
				for _, k := range cuts {
					if k > 0 && k < len(c.valid) {
						reject(t, fmt.Sprintf("first %d bytes", k), c.validate, c.valid[:k])
						reject(t, fmt.Sprintf("without the first %d bytes", k), c.validate, c.valid[k:])
					}
				}
			})
			t.Run("extra trailing bytes are refused", func(t *testing.T) {
				for _, extra := range [][]byte{{0}, make([]byte, 8), c.valid} {
					reject(t, fmt.Sprintf("%d extra bytes", len(extra)), c.validate, append(slices.Clone(c.valid), extra...))
				}
			})
			t.Run("random bytes are refused", func(t *testing.T) {
				for i := 0; i < 3; i++ {
					b := make([]byte, len(c.valid))
					for j := range b {
						b[j] = byte(rng.Uint32())
					}
					reject(t, "random bytes of the right length", c.validate, b)
					copy(b, c.valid[:body]) // right tag and fields, random Lattigo part
					reject(t, "right header, random body", c.validate, b)
					reject(t, "random short bytes", c.validate, b[:rng.IntN(4096)])
				}
			})
			work := slices.Clone(c.valid)
			t.Run("every flipped tag and structure byte is refused", func(t *testing.T) {
				flip := func(i int, mask byte) {
					work[i] ^= mask
					reject(t, fmt.Sprintf("byte %d ^ %#x", i, mask), c.validate, work)
					work[i] ^= mask
				}
				for i := 0; i < tagSize; i++ {
					flip(i, 0x01)
					flip(i, 0x80)
				}
				for _, s := range l.fixed {
					for i := s.lo; i < s.hi; i++ {
						flip(body+i, 0x01)
						flip(body+i, 0xff)
					}
				}
			})
			t.Run("a coefficient at or above its modulus is refused, one below passes", func(t *testing.T) {
				for _, s := range l.coeffs {
					for _, at := range []int{body + s.lo, body + s.hi - 8, body + s.lo + 8*rng.IntN((s.hi-s.lo)/8)} {
						old := binary.LittleEndian.Uint64(work[at:])
						for _, v := range []uint64{s.q, s.q + 1, 1<<63 | s.q, ^uint64(0)} {
							binary.LittleEndian.PutUint64(work[at:], v)
							reject(t, fmt.Sprintf("coefficient %d at byte %d", v, at), c.validate, work)
						}
						binary.LittleEndian.PutUint64(work[at:], s.q-1)
						if err := c.validate(work); err != nil {
							t.Fatalf("q-1 at byte %d refused: %v", at, err)
						}
						binary.LittleEndian.PutUint64(work[at:], old)
					}
				}
			})
			t.Run("a valid blob of every other kind is refused", func(t *testing.T) {
				for _, o := range cases {
					if o.kind != c.kind {
						reject(t, o.name, c.validate, o.valid)
					}
				}
			})
		})
	}
}

func TestThresholdFieldsAreChecked(t *testing.T) {
	a := testAlliance(t)
	p := a.p
	dealt, err := p.GenThresholdShares(a.secrets[1], 1, 3, a.members)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := a.ts[1].MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	u64 := func(b []byte, off int, v uint64) []byte {
		b = slices.Clone(b)
		binary.BigEndian.PutUint64(b[off:], v)
		return b
	}
	for name, b := range map[string][]byte{
		"dealer 0":                 u64(dealt[2], tagSize, 0),
		"dealer above the maximum": u64(dealt[2], tagSize, MaxMemberIndex+1),
		"recipient 0":              u64(dealt[2], tagSize+8, 0),
		"threshold 0":              u64(dealt[2], tagSize+16, 0),
		"threshold 2^63":           u64(dealt[2], tagSize+16, 1<<63),
	} {
		reject(t, "threshold share with "+name, p.ValidateThresholdShare, b)
	}
	unmarshal := func(b []byte) error { _, err := p.UnmarshalThresholdSecret(b); return err }
	for name, b := range map[string][]byte{
		"own index not a member": u64(ts, tagSize, 9),
		"threshold 0":            u64(ts, tagSize+8, 0),
		"threshold above N":      u64(ts, tagSize+8, 5),
		"member count 0":         u64(ts, tagSize+16, 0),
		"member count 2^62":      u64(ts, tagSize+16, 1<<62),
		"member count 3":         u64(ts, tagSize+16, 3),
		"unsorted members":       u64(u64(ts, tagSize+24, 2), tagSize+32, 1),
		"repeated member":        u64(ts, tagSize+32, 1),
		"member 0":               u64(ts, tagSize+24, 0),
	} {
		reject(t, "threshold secret with "+name, unmarshal, b)
	}
}
