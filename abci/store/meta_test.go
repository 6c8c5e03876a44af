package store

import (
	"bytes"
	"testing"
)

func TestMetaRoundTrips(t *testing.T) {
	tests := []struct {
		name    string
		meta    commitMeta
		wantErr bool
	}{
		{"height 1 round-trips", commitMeta{1, bytes.Repeat([]byte{1}, hashSize)}, false},
		{"the largest height round-trips", commitMeta{1<<63 - 1, bytes.Repeat([]byte{2}, hashSize)}, false},
		{"height 0 is refused", commitMeta{0, make([]byte, hashSize)}, true},
		{"a short hash is refused", commitMeta{1, make([]byte, 31)}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bz, err := encodeMeta(tt.meta)
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			got, err := decodeMeta(bz)
			if err != nil || got.height != tt.meta.height || !bytes.Equal(got.appHash, tt.meta.appHash) {
				t.Fatalf("decoded %+v, %v", got, err)
			}
		})
	}
}

func FuzzDecodeMeta(f *testing.F) {
	good, _ := encodeMeta(commitMeta{7, bytes.Repeat([]byte{7}, hashSize)})
	f.Add(good)
	f.Add([]byte{})
	f.Add(make([]byte, metaSize))
	f.Fuzz(func(t *testing.T, bz []byte) {
		m, err := decodeMeta(bz)
		if err != nil {
			return
		}
		again, err := encodeMeta(m)
		if err != nil || !bytes.Equal(again, bz) {
			t.Fatalf("decoded %x but re-encoded %x (%v)", bz, again, err)
		}
	})
}
