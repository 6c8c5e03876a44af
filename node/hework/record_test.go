package hework

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestRecordRoundTrip(t *testing.T) {
	recs := []*record{
		{Kind: kindCeremony, ChainID: "medchain-1", Epoch: 1, ID: 3, Fields: [][]byte{{1, 2}, {}, bytes.Repeat([]byte{7}, 1000)}},
		{Kind: kindThreshold, ChainID: "c", Epoch: 9, ID: 1, Fields: [][]byte{{5}}},
		{Kind: kindKS, ChainID: "medchain-localnet", Epoch: 1, ID: 1 << 40, Fields: [][]byte{{0, 0, 0}}},
	}
	for _, r := range recs {
		b, err := r.encode()
		if err != nil {
			t.Fatal(err)
		}
		got, err := decodeRecord(b)
		if err != nil {
			t.Fatal(err)
		}
		if got.Kind != r.Kind || got.ChainID != r.ChainID || got.Epoch != r.Epoch || got.ID != r.ID ||
			!slices.EqualFunc(got.Fields, r.Fields, bytes.Equal) {
			t.Fatalf("round trip of %+v gave %+v", r, got)
		}
		for n := 0; n < len(b); n++ {
			if _, err := decodeRecord(b[:n]); !errors.Is(err, errBadRecord) {
				t.Fatalf("truncated to %d: err = %v", n, err)
			}
		}
		if _, err := decodeRecord(append(b, 0)); !errors.Is(err, errBadRecord) {
			t.Fatal("trailing byte accepted")
		}
	}
	t.Run("a record of the wrong shape is not encoded", func(t *testing.T) {
		if _, err := (&record{Kind: kindKS, ChainID: "c", Fields: nil}).encode(); err == nil {
			t.Fatal("encoded a ks record without its field")
		}
		if _, err := (&record{Kind: 9, ChainID: "c"}).encode(); err == nil {
			t.Fatal("encoded an unknown kind")
		}
	})
}

func TestRecordNames(t *testing.T) {
	for _, id := range []uint64{0, 1, 42, 1<<64 - 1} {
		got, ok := parseKSName(ksName(id))
		if !ok || got != id {
			t.Fatalf("parseKSName(%q) = %d, %v", ksName(id), got, ok)
		}
	}
	for _, name := range []string{"he-request--1-ks", "he-request-01-ks", "he-request-1-ksx", "he-epoch-1-ceremony", "he-request-1-ks "} {
		if _, ok := parseKSName(name); ok {
			t.Fatalf("parseKSName(%q) accepted", name)
		}
	}
}

func FuzzDecodeRecord(f *testing.F) {
	for _, r := range []*record{
		{Kind: kindCeremony, ChainID: "medchain-1", Epoch: 1, ID: 3, Fields: [][]byte{{1, 2}, {}, {3}}},
		{Kind: kindKS, ChainID: "x", Epoch: 1, ID: 7, Fields: [][]byte{{9, 9}}},
	} {
		b, _ := r.encode()
		f.Add(b)
	}
	f.Add([]byte("mchw"))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := decodeRecord(b)
		if err != nil {
			if !errors.Is(err, errBadRecord) {
				t.Fatalf("error %v does not wrap errBadRecord", err)
			}
			return
		}
		again, err := r.encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("decoded record does not encode back to its bytes: %v", err)
		}
	})
}
