package vault

import (
	"fmt"
	"testing"
)

func benchmarkHome(b *testing.B) *Vault {
	b.Helper()
	home := b.TempDir()
	if err := EnsureKeys(home); err != nil {
		b.Fatal(err)
	}
	v, err := Open(home)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = v.Close() })
	return v
}

// Put is dominated by the synced write.
func BenchmarkPut16KiB(b *testing.B) {
	v := benchmarkHome(b)
	r := makeRecord(b, "rec", make([]byte, 16<<10))
	b.SetBytes(int64(len(r.ciphertext)))
	i := 0
	for b.Loop() {
		if err := v.Put(fmt.Appendf(nil, "rec-%d", i), r.ciphertext, r.sealedKey); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

func BenchmarkGet16KiB(b *testing.B) {
	v := benchmarkHome(b)
	r := makeRecord(b, "rec", make([]byte, 16<<10))
	if err := v.Put(r.id, r.ciphertext, r.sealedKey); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(r.ciphertext)))
	for b.Loop() {
		if _, _, err := v.Get(r.id); err != nil {
			b.Fatal(err)
		}
	}
}

// Erase drops the record's keys from every level (DropPrefix), then runs
// value-log GC.
func BenchmarkErase(b *testing.B) {
	v := benchmarkHome(b)
	r := makeRecord(b, "rec", make([]byte, 16<<10))
	i := 0
	for b.Loop() {
		b.StopTimer()
		id := fmt.Appendf(nil, "rec-%d", i)
		i++
		if err := v.Put(id, r.ciphertext, r.sealedKey); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := v.Erase(id); err != nil {
			b.Fatal(err)
		}
	}
}
