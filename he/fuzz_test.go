package he

import (
	"encoding/binary"
	"errors"
	"slices"
	"testing"
)

// fuzzValidator fuzzes validate with raw bytes and with single mutations of
// a valid blob (an 8-byte value written at pos, then a cut at cut). It
// asserts that validate returns an error and never panics, and that
// whatever it accepts, use (which runs Lattigo on it) handles.
func fuzzValidator(f *testing.F, valid []byte, validate, use func([]byte) error) {
	f.Add([]byte{}, uint32(0), uint64(0), uint32(0))
	f.Add([]byte("mhe\x05"), uint32(5), uint64(1<<60), uint32(0))
	f.Add(valid[:300], uint32(len(valid)-8), ^uint64(0), uint32(len(valid)-1))
	f.Add(valid, uint32(290), uint64(3), uint32(1<<31))
	f.Fuzz(func(t *testing.T, raw []byte, pos uint32, val uint64, cut uint32) {
		check := func(b []byte) {
			if validate(b) != nil {
				return
			}
			if err := use(b); err != nil {
				t.Fatalf("accepted %d bytes that Lattigo then refused: %v", len(b), err)
			}
		}
		check(raw)
		mut := slices.Clone(valid)
		at := int(pos) % (len(mut) - 7)
		binary.LittleEndian.PutUint64(mut[at:], val)
		if cut&1 == 1 {
			mut = mut[:int(cut>>1)%(len(mut)+1)]
		}
		check(mut)
	})
}

func FuzzValidateCiphertext(f *testing.F) {
	a := testAlliance(f)
	fuzzValidator(f, a.encrypt(f, []int64{1, -1}), a.p.ValidateCiphertext, func(b []byte) error {
		_, err := a.p.Add(b, b)
		return err
	})
}

func FuzzValidateKeySwitchShare(f *testing.F) {
	a := testAlliance(f)
	_, pub, err := a.p.GenResearcherKey()
	if err != nil {
		f.Fatal(err)
	}
	ct := a.encrypt(f, []int64{1, -1})
	share, err := a.p.GenKeySwitchShare(a.ts[1], []uint64{1, 2, 3}, ct, pub)
	if err != nil {
		f.Fatal(err)
	}
	fuzzValidator(f, share, a.p.ValidateKeySwitchShare, func(b []byte) error {
		_, err := a.p.KeySwitch(ct, [][]byte{b, share})
		return err
	})
}

func FuzzValidatePublicKeyShare(f *testing.F) {
	a := testAlliance(f)
	fuzzValidator(f, a.ckgShares[0], a.p.ValidatePublicKeyShare, func(b []byte) error {
		_, err := a.p.AggregatePublicKey(a.seed, [][]byte{b})
		return err
	})
}

func FuzzUnmarshalThresholdSecret(f *testing.F) {
	a := testAlliance(f)
	valid, err := a.ts[2].MarshalBinary()
	if err != nil {
		f.Fatal(err)
	}
	var last *ThresholdSecret
	fuzzValidator(f, valid, func(b []byte) error {
		var err error
		last, err = a.p.UnmarshalThresholdSecret(b)
		return err
	}, func(b []byte) error {
		again, err := last.MarshalBinary()
		if err == nil && string(again) != string(b) {
			err = errors.New("does not round-trip")
		}
		return err
	})
}
