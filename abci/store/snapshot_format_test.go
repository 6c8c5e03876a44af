package store

import (
	"bytes"
	"errors"
	"testing"

	"github.com/cosmos/iavl"
)

func validMeta() *snapshotMeta {
	return &snapshotMeta{height: 42, rootHash: bytes.Repeat([]byte{1}, 32), nodes: 3, size: 25, chunkSize: 10,
		chunkHashes: [][]byte{bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32), bytes.Repeat([]byte{4}, 32)}}
}

func TestSnapshotMetadataRoundTripsAndRejectsNonsense(t *testing.T) {
	good := validMeta().encode()
	m, err := decodeSnapshotMeta(good)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(m.encode(), good) || m.chunkLen(0) != 10 || m.chunkLen(2) != 5 {
		t.Fatalf("round trip changed the metadata or chunk lengths: %+v", m)
	}
	edit := func(f func(m *snapshotMeta)) []byte { m := validMeta(); f(m); return m.encode() }
	tests := []struct {
		name string
		raw  []byte
	}{
		{"an empty record is refused", nil},
		{"a header cut short is refused", good[:40]},
		{"another format version is refused", append([]byte{2}, good[1:]...)},
		{"height 0 is refused", edit(func(m *snapshotMeta) { m.height = 0 })},
		{"chunk size 0 is refused", edit(func(m *snapshotMeta) { m.chunkSize = 0 })},
		{"a chunk size over the maximum is refused", edit(func(m *snapshotMeta) { m.chunkSize = MaxChunkSize + 1 })},
		{"a chunk count that does not cover the stream is refused", edit(func(m *snapshotMeta) { m.size = 31 })},
		{"more nodes than bytes allow are refused", edit(func(m *snapshotMeta) { m.nodes = 7 })},
		{"an even node count is refused", edit(func(m *snapshotMeta) { m.nodes = 2 })},
		{"a missing chunk hash is refused", good[:len(good)-1]},
		{"trailing bytes are refused", append(bytes.Clone(good), 0)},
		{"zero chunks are refused", edit(func(m *snapshotMeta) { m.chunkHashes = nil })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := decodeSnapshotMeta(tt.raw); !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("err = %v, want ErrSnapshotInvalid", err)
			}
		})
	}
}

func TestNodeRecordsRoundTripAndRejectNonsense(t *testing.T) {
	leaf := &iavl.ExportNode{Height: 0, Version: 3, Key: []byte("key"), Value: []byte("value")}
	inner := &iavl.ExportNode{Height: 2, Version: 5, Key: []byte("k")}
	empty := &iavl.ExportNode{Height: 0, Version: 1, Key: []byte("e"), Value: []byte{}}
	for _, n := range []*iavl.ExportNode{leaf, inner, empty} {
		rec := appendNode(nil, n)
		got, used, err := decodeNode(rec, 5)
		if err != nil || used != len(rec) || got.Height != n.Height || got.Version != n.Version ||
			!bytes.Equal(got.Key, n.Key) || !bytes.Equal(got.Value, n.Value) || (n.Height == 0) != (got.Value != nil) {
			t.Fatalf("round trip of %+v: %+v, %d, %v", n, got, used, err)
		}
		for cut := range len(rec) {
			if _, _, err := decodeNode(rec[:cut], 5); !errors.Is(err, errIncomplete) {
				t.Fatalf("record cut at %d of %d: err = %v, want errIncomplete", cut, len(rec), err)
			}
		}
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"a height over 127 is refused", []byte{200, 1, 1, 'k'}},
		{"version 0 is refused", []byte{0, 0, 1, 'k', 0}},
		{"a version above the snapshot height is refused", []byte{0, 6, 1, 'k', 0}},
		{"an empty key is refused", []byte{0, 1, 0, 0}},
		{"an overlong uvarint is refused", []byte{0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 1}},
		{"a key length over the maximum is refused", []byte{0, 1, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := decodeNode(tt.raw, 5); !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("err = %v, want ErrSnapshotInvalid", err)
			}
		})
	}
}

func FuzzDecodeSnapshotMeta(f *testing.F) {
	f.Add(validMeta().encode())
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, raw []byte) {
		m, err := decodeSnapshotMeta(raw)
		if err != nil {
			if !errors.Is(err, ErrSnapshotInvalid) {
				t.Fatalf("error %v does not wrap ErrSnapshotInvalid", err)
			}
			return
		}
		if !bytes.Equal(m.encode(), raw) {
			t.Fatal("a decoded record does not encode back to its bytes")
		}
	})
}

func FuzzDecodeNode(f *testing.F) {
	f.Add(appendNode(nil, &iavl.ExportNode{Height: 0, Version: 3, Key: []byte("key"), Value: []byte("v")}))
	f.Add(appendNode(nil, &iavl.ExportNode{Height: 1, Version: 2, Key: []byte("k")}))
	f.Fuzz(func(t *testing.T, raw []byte) {
		n, used, err := decodeNode(raw, 1000)
		if err != nil {
			if !errors.Is(err, ErrSnapshotInvalid) && !errors.Is(err, errIncomplete) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if re := appendNode(nil, n); !bytes.Equal(re, raw[:used]) {
			// Only a non-minimal uvarint may differ; it must decode the same.
			m, _, err := decodeNode(re, 1000)
			if err != nil || m.Version != n.Version || !bytes.Equal(m.Key, n.Key) || !bytes.Equal(m.Value, n.Value) {
				t.Fatalf("re-encoding %+v does not decode the same", n)
			}
		}
	})
}

// FuzzRestoreStream feeds any node stream, under metadata made to match
// it, to a restore: it must end in an error or a restored tree, never a
// panic, and a refused restore leaves the store empty.
func FuzzRestoreStream(f *testing.F) {
	f.Add([]byte{0, 1, 1, 'a', 1, 'x'}, uint16(1), uint16(3))
	f.Add(append(appendNode(appendNode(nil, &iavl.ExportNode{Version: 1, Key: []byte("a"), Value: []byte("1")}),
		&iavl.ExportNode{Version: 1, Key: []byte("b"), Value: []byte("2")}),
		appendNode(nil, &iavl.ExportNode{Height: 1, Version: 1, Key: []byte("b")})...), uint16(3), uint16(5))
	s, err := Open(Options{Dir: f.TempDir()})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { _ = s.Close() })
	f.Fuzz(func(t *testing.T, stream []byte, nodes, chunkSize uint16) {
		if len(stream) == 0 {
			return // the empty tree: a valid snapshot of nothing
		}
		if chunkSize == 0 {
			chunkSize = 1
		}
		snap, chunks := forge(3, emptyHash(), uint64(nodes), stream, int(chunkSize))
		if len(chunks) > 64 {
			return
		}
		if _, err := decodeSnapshotMeta(snap.Metadata); err != nil {
			return
		}
		// Claim whatever root the stream builds: hash agreement is then
		// the only thing left to check, and RestoreChunk must get there
		// without panicking.
		if err := s.BeginRestore(*snap, emptyHash()); err != nil {
			t.Fatal(err)
		}
		for i, c := range chunks {
			done, err := s.RestoreChunk(uint32(i), c)
			if err != nil {
				if h, _ := s.LastCommit(); h != 0 {
					t.Fatalf("a refused restore left height %d", h)
				}
				return
			}
			if done {
				t.Fatalf("a stream of %d bytes restored to the empty hash", len(stream))
			}
		}
	})
}
