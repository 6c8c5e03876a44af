package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"
)

// BenchmarkCommit1000Sets measures one block of 1000 writes of 100-byte
// values under 32-byte keys spread over the key space, plus its Commit
// (synced Badger writes and the meta record), on a growing tree.
func BenchmarkCommit1000Sets(b *testing.B) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 100)
	var seed [8]byte
	n := uint64(0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		for range 1000 {
			binary.BigEndian.PutUint64(seed[:], n)
			n++
			key := sha256.Sum256(seed[:])
			copy(value, key[:])
			if err := s.Set(key[:], value); err != nil {
				b.Fatal(err)
			}
		}
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
	value := make([]byte, 100)
	var seed [8]byte
	n := uint64(0)
	set := func(s *Store, count int) {
		for range count {
			binary.BigEndian.PutUint64(seed[:], n)
			n++
			key := sha256.Sum256(seed[:])
			copy(value, key[:])
			if err := s.Set(key[:], value); err != nil {
				b.Fatal(err)
			}
		}
	}
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	height := int64(0)
	for range 100 {
		set(s, 10_000)
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
				set(s, 1000)
				height++
				if _, err := s.Commit(height); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for range b.N {
				set(s, 1000)
				height++
				if _, err := s.Commit(height); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
