package accounts

import (
	"bytes"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
)

func TestKeysAreDistinctAndBounded(t *testing.T) {
	addr, _ := pb.ParseAddress(pb.AddressOf(pubKey("a")))
	start, end := HospitalPrefix()
	in := func(k []byte) bool { return bytes.Compare(k, start) >= 0 && bytes.Compare(k, end) < 0 }
	tests := []struct {
		name string
		key  []byte
		in   bool
	}{
		{"a hospital key is inside the hospital range", HospitalKey("h1"), true},
		{"a long hospital id is inside the hospital range", HospitalKey(strings.Repeat("z", 32)), true},
		{"an account key is outside the hospital range", AccountKey(addr), false},
		{"the params key is outside the hospital range", ParamsKey(), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if in(tt.key) != tt.in {
				t.Fatalf("key %x in [%x, %x) = %v", tt.key, start, end, !tt.in)
			}
		})
	}
	if k := AccountKey(addr); len(k) != 21 || !bytes.Equal(k[1:], addr[:]) {
		t.Errorf("AccountKey = %x, want prefix + the 20 address bytes", k)
	}
	if k := HospitalKey("h1"); string(k[1:]) != "h1" {
		t.Errorf("HospitalKey = %x, want prefix + the id", k)
	}
	a, b := AccountKey(addr), AccountKey(addr)
	a[5] ^= 1
	if bytes.Equal(a, b) {
		t.Error("AccountKey returns a shared slice")
	}
}
