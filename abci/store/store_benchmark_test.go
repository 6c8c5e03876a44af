package store

import (
	"crypto/sha256"
	"encoding/binary"
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
