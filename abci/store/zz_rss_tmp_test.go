package store

import (
	"crypto/sha256"
	"encoding/binary"
	"os"
	"runtime"
	"strings"
	"testing"
)

func TestZZRSS(t *testing.T) {
	s, err := Open(Options{Dir: t.TempDir(), KeepRecent: 100})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	value := make([]byte, 100)
	var seed [8]byte
	n := uint64(0)
	for h := int64(1); h <= 200; h++ {
		for range 1000 {
			binary.BigEndian.PutUint64(seed[:], n)
			n++
			key := sha256.Sum256(seed[:])
			_ = s.Set(key[:], value)
		}
		if _, err := s.Commit(h); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	st, _ := os.ReadFile("/proc/self/status")
	for _, l := range strings.Split(string(st), "\n") {
		if strings.HasPrefix(l, "VmRSS") || strings.HasPrefix(l, "VmHWM") {
			t.Log(l)
		}
	}
	t.Logf("heap inuse %d MiB, sys %d MiB", ms.HeapInuse>>20, ms.Sys>>20)
}
