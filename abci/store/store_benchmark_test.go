package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
)

// randomWrites writes 100-byte values under 32-byte keys spread over the
// key space, a new key each time.
type randomWrites struct {
	n     uint64
	value [100]byte
}

func (w *randomWrites) set(b *testing.B, s *Store, count int) {
	var seed [8]byte
	for range count {
		binary.BigEndian.PutUint64(seed[:], w.n)
		w.n++
		key := sha256.Sum256(seed[:])
		copy(w.value[:], key[:])
		if err := s.Set(key[:], w.value[:]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit1000Sets measures one block of 1000 writes of 100-byte
// values under 32-byte keys spread over the key space, plus its Commit
// (synced Badger writes and the meta record), on a growing tree.
func BenchmarkCommit1000Sets(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	var w randomWrites
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w.set(b, s, 1000)
		if _, err := s.Commit(int64(i + 1)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCommit1000SetsLargeTree is BenchmarkCommit1000Sets on a tree
// that already holds 1,000,000 keys (about 2,000,000 nodes, far more than
// the default node cache), for two node cache sizes: what a block of
// record registrations costs once a hospital alliance's state is large.
// The tree is built once, then reopened with each cache size.
func BenchmarkCommit1000SetsLargeTree(b *testing.B) {
	dir := b.TempDir()
	var w randomWrites
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	height := int64(0)
	for range 100 {
		w.set(b, s, 10_000)
		height++
		if _, err := s.Commit(height); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, cache := range []int{DefaultCacheSize, 1_000_000} {
		b.Run(fmt.Sprintf("cache=%d", cache), func(b *testing.B) {
			s, err := Open(Options{Dir: dir, CacheSize: cache})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// Warm the cache as a running node's would be.
			for range 20 {
				w.set(b, s, 1000)
				height++
				if _, err := s.Commit(height); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				w.set(b, s, 1000)
				height++
				if _, err := s.Commit(height); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
