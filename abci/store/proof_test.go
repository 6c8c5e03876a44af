package store

import (
	"bytes"
	"errors"
	"testing"

	ics23 "github.com/cosmos/ics23/go"
)

func TestProofsVerifyAgainstTheirHeight(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustSet(t, s, "b", "1", "d", "1", "f", "1")
	h1 := mustCommit(t, s, 1)
	mustSet(t, s, "b", "2", "c", "2")
	h2 := mustCommit(t, s, 2)

	prove := func(height int64, key string) ([]byte, *ics23.CommitmentProof) {
		t.Helper()
		v, p, err := s.ProveAt(height, []byte(key))
		if err != nil {
			t.Fatalf("ProveAt(%d, %s): %v", height, key, err)
		}
		return v, p
	}
	v1b, p1b := prove(1, "b")
	v2b, p2b := prove(2, "b")
	_, p1c := prove(1, "c") // absent at 1, present at 2
	_, p1a := prove(1, "a") // left of every key
	_, p1z := prove(1, "z") // right of every key
	if string(v1b) != "1" || string(v2b) != "2" {
		t.Fatalf("ProveAt values %q, %q", v1b, v2b)
	}
	if v, _ := prove(0, "c"); string(v) != "2" {
		t.Fatalf("ProveAt(0, c) = %q, want the latest value", v)
	}

	tests := []struct {
		name string
		err  error
		ok   bool
	}{
		{"a present key verifies at its height", VerifyMembership(h1, p1b, []byte("b"), []byte("1")), true},
		{"a present key verifies at a later height", VerifyMembership(h2, p2b, []byte("b"), []byte("2")), true},
		{"a key absent between two keys verifies as absent", VerifyNonMembership(h1, p1c, []byte("c")), true},
		{"a key left of every key verifies as absent", VerifyNonMembership(h1, p1a, []byte("a")), true},
		{"a key right of every key verifies as absent", VerifyNonMembership(h1, p1z, []byte("z")), true},
		{"a tampered value fails", VerifyMembership(h1, p1b, []byte("b"), []byte("2")), false},
		{"another height's app hash fails", VerifyMembership(h2, p1b, []byte("b"), []byte("1")), false},
		{"a proof for another key fails", VerifyMembership(h1, p1b, []byte("d"), []byte("1")), false},
		{"an absence proof fails against a height where the key exists", VerifyNonMembership(h2, p1c, []byte("c")), false},
		{"a presence proof is not an absence proof", VerifyNonMembership(h1, p1b, []byte("b")), false},
		{"an absence proof is not a presence proof", VerifyMembership(h1, p1c, []byte("c"), []byte("2")), false},
		{"a nil proof fails", VerifyMembership(h1, nil, []byte("b"), []byte("1")), false},
		{"an empty proof fails", VerifyNonMembership(h1, &ics23.CommitmentProof{}, []byte("b")), false},
		{"an empty app hash fails", VerifyMembership(nil, p1b, []byte("b"), []byte("1")), false},
		{"a nil value fails", VerifyMembership(h1, p1b, []byte("b"), nil), false},
		{"a hollow existence proof fails", VerifyMembership(h1, &ics23.CommitmentProof{
			Proof: &ics23.CommitmentProof_Exist{Exist: &ics23.ExistenceProof{Key: []byte("b")}}}, []byte("b"), []byte("1")), false},
		{"a hollow absence proof fails", VerifyNonMembership(h1, &ics23.CommitmentProof{
			Proof: &ics23.CommitmentProof_Nonexist{Nonexist: &ics23.NonExistenceProof{Key: []byte("c")}}}, []byte("c")), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.ok && tt.err != nil {
				t.Fatalf("did not verify: %v", tt.err)
			}
			if !tt.ok && !errors.Is(tt.err, ErrInvalidProof) {
				t.Fatalf("err = %v, want ErrInvalidProof", tt.err)
			}
		})
	}

	// A proof survives the wire: CometBFT carries it marshalled.
	bz, err := p1b.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	var decoded ics23.CommitmentProof
	if err := decoded.Unmarshal(bz); err != nil {
		t.Fatal(err)
	}
	if err := VerifyMembership(h1, &decoded, []byte("b"), []byte("1")); err != nil {
		t.Fatal("decoded proof:", err)
	}
}

func TestProveAtRefusesWhatICS23CannotProve(t *testing.T) {
	s, _ := openTemp(t, 0)
	mustCommit(t, s, 1) // empty state
	mustSet(t, s, "a", "1", "empty", "")
	mustCommit(t, s, 2)
	tests := []struct {
		name   string
		height int64
		key    string
		want   error
	}{
		{"an empty state has nothing to prove against", 1, "a", ErrEmptyState},
		{"an empty value cannot be proven", 2, "empty", ErrUnprovable},
		{"an absent key next to an empty value cannot be proven", 2, "f", ErrUnprovable},
		{"a future height is refused", 3, "a", ErrHeightNotCommitted},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := s.ProveAt(tt.height, []byte(tt.key)); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if v, p, err := s.ProveAt(2, []byte("a")); err != nil || !bytes.Equal(v, []byte("1")) || p == nil {
		t.Fatalf("a key away from the empty value: %q, %v", v, err)
	}
}
