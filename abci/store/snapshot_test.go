package store

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// snapOpts are snapshot options in a test folder.
func snapOpts(t *testing.T, interval int64, chunkSize int) SnapshotOptions {
	t.Helper()
	return SnapshotOptions{Dir: filepath.Join(t.TempDir(), "snapshots"), Interval: interval, ChunkSize: chunkSize}
}

// chunksOf reads every chunk of snap as a peer would serve them.
func chunksOf(t *testing.T, s *Store, snap *Snapshot) [][]byte {
	t.Helper()
	out := make([][]byte, snap.Chunks)
	for i := range out {
		c, err := s.SnapshotChunk(snap.Height, snap.Format, uint32(i))
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		out[i] = c
	}
	return out
}

// restoreAll restores snap from chunks into s and requires success.
func restoreAll(t *testing.T, s *Store, snap *Snapshot, appHash []byte, chunks [][]byte) {
	t.Helper()
	if err := s.BeginRestore(*snap, appHash); err != nil {
		t.Fatalf("BeginRestore: %v", err)
	}
	for i, c := range chunks {
		done, err := s.RestoreChunk(uint32(i), c)
		if err != nil {
			t.Fatalf("chunk %d: %v", i, err)
		}
		if done != (i == len(chunks)-1) {
			t.Fatalf("chunk %d of %d: done = %v", i, len(chunks), done)
		}
	}
}

// dump lists every key=value of committed height h (0 = latest).
func dump(t *testing.T, s *Store, h int64) []string {
	t.Helper()
	it, err := s.IteratorAt(h, nil, nil, true)
	return iterate(t, it, err)
}

func TestASnapshotRestoresTheSameState(t *testing.T) {
	big := bytes.Repeat([]byte("x"), 3000)
	tests := []struct {
		name          string
		initialHeight int64
		keepRecent    int64
		chunkSize     int
		heights       int64
		bigValues     bool
	}{
		{"a small state fits in one chunk", 1, 0, 0, 5, false},
		{"records cut by chunk boundaries are put back together", 1, 0, 97, 8, false},
		{"values larger than a chunk span several chunks", 1, 0, 1024, 4, true},
		{"a chain that starts at a later initial height restores", 100, 0, 500, 6, false},
		{"a pruning node serves snapshots and a restored node prunes", 1, 2, 300, 12, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := openAt(t, Options{Dir: t.TempDir(), KeepRecent: tt.keepRecent, InitialHeight: tt.initialHeight,
				Snapshots: snapOpts(t, 0, tt.chunkSize)})
			rng := rand.New(rand.NewPCG(7, uint64(tt.heights)))
			last := tt.initialHeight + tt.heights - 1
			for h := tt.initialHeight; h <= last; h++ {
				applyBlock(t, src, rng, 30)
				if tt.bigValues {
					mustSet(t, src, fmt.Sprintf("big%d", h), string(append(big, byte(h))))
				}
				mustCommit(t, src, h)
			}
			snap, err := src.TakeSnapshot(0)
			if err != nil {
				t.Fatal(err)
			}
			if snap.Height != last || (tt.chunkSize > 0 && snap.Chunks < 2) {
				t.Fatalf("snapshot height %d with %d chunks", snap.Height, snap.Chunks)
			}
			appHash, _ := src.HashAt(last)

			dstDir := t.TempDir()
			dst := openAt(t, Options{Dir: dstDir, KeepRecent: tt.keepRecent, InitialHeight: tt.initialHeight})
			restoreAll(t, dst, snap, appHash, chunksOf(t, src, snap))

			if h, hash := dst.LastCommit(); h != last || !bytes.Equal(hash, appHash) {
				t.Fatalf("restored LastCommit = %d %X, want %d %X", h, hash, last, appHash)
			}
			if !slices.Equal(dump(t, dst, 0), dump(t, src, last)) {
				t.Fatal("restored state differs from the snapshot's height")
			}
			for _, key := range []string{"k001", "k050", "k199", "absent"} {
				v, p, err := dst.ProveAt(0, []byte(key))
				if err != nil {
					t.Fatalf("ProveAt(%s): %v", key, err)
				}
				if v != nil {
					err = VerifyMembership(appHash, p, []byte(key), v)
				} else {
					err = VerifyNonMembership(appHash, p, []byte(key))
				}
				if err != nil {
					t.Fatalf("proof of %s on the restored store: %v", key, err)
				}
			}
			if _, err := dst.GetAt(last-1, []byte("k001")); !errors.Is(err, ErrHeightPruned) {
				t.Fatalf("a height before the snapshot: err = %v, want ErrHeightPruned", err)
			}

			// Both keep committing the same blocks to the same hashes, also
			// across a reopen of the restored store.
			ra, rb := rand.New(rand.NewPCG(9, 9)), rand.New(rand.NewPCG(9, 9))
			for h := last + 1; h <= last+6; h++ {
				applyBlock(t, src, ra, 20)
				applyBlock(t, dst, rb, 20)
				a, b := mustCommit(t, src, h), mustCommit(t, dst, h)
				if !bytes.Equal(a, b) {
					t.Fatalf("height %d after the restore: %X != %X", h, a, b)
				}
				if h == last+3 {
					if err := dst.Close(); err != nil {
						t.Fatal(err)
					}
					dst = openAt(t, Options{Dir: dstDir, KeepRecent: tt.keepRecent})
				}
			}
			if tt.keepRecent > 0 {
				if _, err := dst.GetAt(last+6-tt.keepRecent, []byte("k001")); !errors.Is(err, ErrHeightPruned) {
					t.Fatalf("the restored store did not prune: %v", err)
				}
			}
			if !slices.Equal(dump(t, dst, 0), dump(t, src, 0)) {
				t.Fatal("states differ after committing on both")
			}
		})
	}
}

func TestCommitTakesSnapshotsAtTheIntervalAndKeepsTheNewest(t *testing.T) {
	o := snapOpts(t, 3, 0)
	o.KeepRecent = 2
	s := openAt(t, Options{Dir: t.TempDir(), KeepRecent: 2, Snapshots: o})
	rng := rand.New(rand.NewPCG(1, 1))
	for h := int64(1); h <= 10; h++ {
		applyBlock(t, s, rng, 20)
		mustCommit(t, s, h)
		s.snapWG.Wait() // one at a time, so none is skipped
	}
	snaps, err := s.Snapshots()
	if err != nil {
		t.Fatal(err)
	}
	var heights []int64
	for _, sn := range snaps {
		heights = append(heights, sn.Height)
		hash, err := s.HashAt(0)
		if err != nil {
			t.Fatal(err)
		}
		_ = hash
		if !bytes.Equal(sn.Hash, snapshotHash(sn.Metadata)) || sn.Format != SnapshotFormat {
			t.Fatalf("snapshot %d: hash or format wrong", sn.Height)
		}
	}
	if !slices.Equal(heights, []int64{9, 6}) {
		t.Fatalf("snapshots kept = %v, want [9 6] (every 3 heights, newest 2)", heights)
	}
	// The snapshot of a height pruned since still restores: the export
	// held its version.
	dst := openAt(t, Options{Dir: t.TempDir()})
	m, err := decodeSnapshotMeta(snaps[1].Metadata)
	if err != nil {
		t.Fatal(err)
	}
	restoreAll(t, dst, &snaps[1], m.rootHash, chunksOf(t, s, &snaps[1]))
	if h, _ := dst.LastCommit(); h != 6 {
		t.Fatalf("restored height %d, want 6", h)
	}
}

func TestSnapshotFilesAreCheckedAndCleanedUp(t *testing.T) {
	o := snapOpts(t, 0, 64)
	dir := t.TempDir()
	s := openAt(t, Options{Dir: dir, Snapshots: o})
	mustSet(t, s, "a", "1", "b", "2", "c", "3", "d", "4")
	mustCommit(t, s, 1)
	snap, err := s.TakeSnapshot(1)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("a chunk corrupted on disk is not served", func(t *testing.T) {
		path := chunkFile(s.snapshotDir(1), 0)
		raw, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(raw)
		bad[0] ^= 1
		if err := os.WriteFile(path, bad, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := s.SnapshotChunk(1, SnapshotFormat, 0); !errors.Is(err, ErrSnapshotInvalid) {
			t.Fatalf("err = %v, want ErrSnapshotInvalid", err)
		}
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("unknown heights, formats and chunks are not found", func(t *testing.T) {
		for _, c := range []struct {
			h      int64
			format uint32
			index  uint32
		}{{2, SnapshotFormat, 0}, {1, SnapshotFormat + 1, 0}, {1, SnapshotFormat, snap.Chunks}, {-1, SnapshotFormat, 0}} {
			if _, err := s.SnapshotChunk(c.h, c.format, c.index); !errors.Is(err, ErrSnapshotNotFound) {
				t.Fatalf("SnapshotChunk(%d, %d, %d): err = %v, want ErrSnapshotNotFound", c.h, c.format, c.index, err)
			}
		}
	})
	t.Run("a snapshot of a height not committed is refused", func(t *testing.T) {
		if _, err := s.TakeSnapshot(5); !errors.Is(err, ErrHeightNotCommitted) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("the folder of an interrupted snapshot goes at the next open", func(t *testing.T) {
		tmp := filepath.Join(o.Dir, tmpPrefix+"7-123")
		if err := os.MkdirAll(tmp, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		s2 := openAt(t, Options{Dir: dir, Snapshots: o})
		if _, err := os.Stat(tmp); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("temporary folder still there: %v", err)
		}
		if snaps, err := s2.Snapshots(); err != nil || len(snaps) != 1 || !bytes.Equal(snaps[0].Hash, snap.Hash) {
			t.Fatalf("Snapshots() = %v, %v; want the one taken", snaps, err)
		}
	})
}

// source builds a committed store with a snapshot of its last height.
func source(t *testing.T, chunkSize int) (*Store, *Snapshot, []byte, [][]byte) {
	t.Helper()
	s := openAt(t, Options{Dir: t.TempDir(), Snapshots: snapOpts(t, 0, chunkSize)})
	rng := rand.New(rand.NewPCG(3, 4))
	for h := int64(1); h <= 4; h++ {
		applyBlock(t, s, rng, 40)
		mustCommit(t, s, h)
	}
	snap, err := s.TakeSnapshot(4)
	if err != nil {
		t.Fatal(err)
	}
	hash, _ := s.HashAt(4)
	return s, snap, hash, chunksOf(t, s, snap)
}

// forge re-cuts stream as a snapshot whose metadata is consistent (chunk
// hashes, sizes) but whose content is whatever the caller made it.
func forge(height int64, rootHash []byte, nodes uint64, stream []byte, chunkSize int) (*Snapshot, [][]byte) {
	m := &snapshotMeta{height: height, rootHash: rootHash, nodes: nodes, size: uint64(len(stream)), chunkSize: uint32(chunkSize)}
	var chunks [][]byte
	for off := 0; off < len(stream) || len(chunks) == 0; off += chunkSize {
		c := stream[off:min(off+chunkSize, len(stream))]
		h := sha256.Sum256(c)
		m.chunkHashes = append(m.chunkHashes, h[:])
		chunks = append(chunks, c)
	}
	md := m.encode()
	return &Snapshot{Height: height, Format: SnapshotFormat, Chunks: uint32(len(chunks)), Hash: snapshotHash(md), Metadata: md}, chunks
}

func TestRestoreRefusesASnapshotThatIsNotTheChains(t *testing.T) {
	_, snap, appHash, _ := source(t, 256)
	withMeta := func(f func(m []byte)) Snapshot {
		c := *snap
		c.Metadata = bytes.Clone(snap.Metadata)
		f(c.Metadata)
		c.Hash = snapshotHash(c.Metadata)
		return c
	}
	other := bytes.Repeat([]byte{7}, 32)
	tests := []struct {
		name    string
		snap    Snapshot
		appHash []byte
		want    error
	}{
		{"another format is refused as a format", func() Snapshot { c := *snap; c.Format = 2; return c }(), appHash, ErrSnapshotFormat},
		{"metadata of another format version is invalid", withMeta(func(m []byte) { m[0] = 9 }), appHash, ErrSnapshotInvalid},
		{"truncated metadata is invalid", func() Snapshot { c := *snap; c.Metadata = c.Metadata[:30]; c.Hash = snapshotHash(c.Metadata); return c }(), appHash, ErrSnapshotInvalid},
		{"a hash that is not the metadata's is invalid", func() Snapshot { c := *snap; c.Hash = other; return c }(), appHash, ErrSnapshotInvalid},
		{"a height other than the metadata's is invalid", func() Snapshot { c := *snap; c.Height++; return c }(), appHash, ErrSnapshotInvalid},
		{"a chunk count other than the metadata's is invalid", func() Snapshot { c := *snap; c.Chunks++; return c }(), appHash, ErrSnapshotInvalid},
		{"a root other than the chain's app hash is refused", *snap, other, ErrSnapshotMismatch},
		{"a missing app hash is refused", *snap, nil, ErrSnapshotMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openAt(t, Options{Dir: t.TempDir()})
			if err := dst.BeginRestore(tt.snap, tt.appHash); !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if _, err := dst.RestoreChunk(0, nil); !errors.Is(err, ErrNoRestore) {
				t.Fatalf("a chunk after a refused offer: err = %v, want ErrNoRestore", err)
			}
		})
	}
	t.Run("a node that already holds state refuses any snapshot", func(t *testing.T) {
		dst := openAt(t, Options{Dir: t.TempDir()})
		mustSet(t, dst, "a", "1")
		mustCommit(t, dst, 1)
		if err := dst.BeginRestore(*snap, appHash); !errors.Is(err, ErrNotEmpty) {
			t.Fatalf("err = %v, want ErrNotEmpty", err)
		}
	})
}

func TestRestoreRefusesBadChunks(t *testing.T) {
	src, snap, appHash, chunks := source(t, 256)
	if len(chunks) < 3 {
		t.Fatalf("want at least 3 chunks, got %d", len(chunks))
	}
	stream := bytes.Join(chunks, nil)
	m, err := decodeSnapshotMeta(snap.Metadata)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a corrupt chunk is refused, changes nothing, and the good one then applies", func(t *testing.T) {
		dst := openAt(t, Options{Dir: t.TempDir()})
		if err := dst.BeginRestore(*snap, appHash); err != nil {
			t.Fatal(err)
		}
		bad := bytes.Clone(chunks[0])
		bad[len(bad)/2] ^= 0xFF
		if _, err := dst.RestoreChunk(0, bad); !errors.Is(err, ErrChunkHash) {
			t.Fatalf("err = %v, want ErrChunkHash", err)
		}
		if _, err := dst.RestoreChunk(0, chunks[0][:10]); !errors.Is(err, ErrChunkHash) {
			t.Fatalf("a short chunk: err = %v, want ErrChunkHash", err)
		}
		if _, err := dst.RestoreChunk(2, chunks[2]); !errors.Is(err, ErrChunkOrder) {
			t.Fatalf("a chunk out of order: err = %v, want ErrChunkOrder", err)
		}
		for i, c := range chunks {
			if _, err := dst.RestoreChunk(uint32(i), c); err != nil {
				t.Fatalf("chunk %d: %v", i, err)
			}
			if i == len(chunks)-1 {
				break
			}
			if _, err := dst.RestoreChunk(uint32(i), c); err != nil { // a duplicate is harmless
				t.Fatalf("chunk %d again: %v", i, err)
			}
		}
		if !slices.Equal(dump(t, dst, 0), dump(t, src, 4)) {
			t.Fatal("restored state differs")
		}
	})

	// A peer can make chunks that match its own metadata: what it cannot
	// do is make them add up to the chain's app hash.
	flipped := bytes.Clone(stream)
	flipped[len(flipped)-1] ^= 1 // the last byte is the root's key's
	// The first record is the smallest leaf: height, version, key, value.
	first, used, err := decodeNode(stream, 4)
	if err != nil || first.Height != 0 || len(first.Value) == 0 {
		t.Fatalf("first record: %v %+v", err, first)
	}
	valueFlipped := bytes.Clone(stream)
	valueFlipped[used-1] ^= 1
	garbage := bytes.Clone(stream)
	copy(garbage[100:], bytes.Repeat([]byte{0xFF}, 40))
	tests := []struct {
		name   string
		stream []byte
		nodes  uint64
		want   error
	}{
		{"a changed inner key, which the root hash does not cover, is invalid", flipped, m.nodes, ErrSnapshotInvalid},
		{"a changed value is caught by the root hash", valueFlipped, m.nodes, ErrSnapshotMismatch},
		{"garbage in the node stream is invalid", garbage, m.nodes, ErrSnapshotInvalid},
		{"a stream cut short is invalid", stream[:len(stream)-3], m.nodes, ErrSnapshotInvalid},
		{"fewer nodes than announced is invalid", stream, m.nodes + 2, ErrSnapshotInvalid},
		{"more nodes than announced is invalid", stream, m.nodes - 2, ErrSnapshotInvalid},
		{"an empty tree is not the chain's state", nil, 0, ErrSnapshotMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			dst := openAt(t, Options{Dir: dir})
			fs, fchunks := forge(4, appHash, tt.nodes, tt.stream, 256)
			if err := dst.BeginRestore(*fs, appHash); err != nil {
				t.Fatal(err)
			}
			var err error
			for i, c := range fchunks {
				if _, err = dst.RestoreChunk(uint32(i), c); err != nil {
					break
				}
			}
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if h, hash := dst.LastCommit(); h != 0 || !bytes.Equal(hash, emptyHash()) {
				t.Fatalf("after a refused restore the store holds %d %X, want it empty", h, hash)
			}
			// The same store then takes the right snapshot.
			restoreAll(t, dst, snap, appHash, chunks)
			if !slices.Equal(dump(t, dst, 0), dump(t, src, 4)) {
				t.Fatal("restored state differs")
			}
		})
	}

	t.Run("a restore a crash interrupted is discarded at the next open", func(t *testing.T) {
		dir := t.TempDir()
		dst := openAt(t, Options{Dir: dir})
		if err := dst.BeginRestore(*snap, appHash); err != nil {
			t.Fatal(err)
		}
		if _, err := dst.RestoreChunk(0, chunks[0]); err != nil {
			t.Fatal(err)
		}
		if err := dst.Close(); err != nil {
			t.Fatal(err)
		}
		dst = openAt(t, Options{Dir: dir})
		if h, _ := dst.LastCommit(); h != 0 {
			t.Fatalf("height %d after reopening a half restore, want 0", h)
		}
		restoreAll(t, dst, snap, appHash, chunks)
	})

	t.Run("a new offer abandons the restore in progress", func(t *testing.T) {
		dst := openAt(t, Options{Dir: t.TempDir()})
		if err := dst.BeginRestore(*snap, appHash); err != nil {
			t.Fatal(err)
		}
		if _, err := dst.RestoreChunk(0, chunks[0]); err != nil {
			t.Fatal(err)
		}
		restoreAll(t, dst, snap, appHash, chunks)
		if h, _ := dst.LastCommit(); h != 4 {
			t.Fatalf("height %d, want 4", h)
		}
	})
}
