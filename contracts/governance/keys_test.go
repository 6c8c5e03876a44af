package governance

import (
	"bytes"
	"testing"
)

func TestOpenKeysRoundTripAndSortByDeadline(t *testing.T) {
	tests := []struct {
		name     string
		deadline int64
		id       uint64
	}{
		{"a small deadline and id round-trip", 12, 3},
		{"a large deadline and id round-trip", 1 << 40, 1 << 33},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, id, ok := parseOpenKey(openKey(tt.deadline, tt.id))
			if !ok || d != tt.deadline || id != tt.id {
				t.Fatalf("parseOpenKey = %d, %d, %v", d, id, ok)
			}
		})
	}
	t.Run("an earlier deadline sorts first whatever the ids", func(t *testing.T) {
		if bytes.Compare(openKey(5, 99), openKey(6, 1)) >= 0 {
			t.Fatal("open keys do not sort by deadline")
		}
	})
	t.Run("a key of another prefix or length does not parse", func(t *testing.T) {
		if _, _, ok := parseOpenKey(ProposalKey(1)); ok {
			t.Fatal("a proposal key parsed as an open key")
		}
		if _, _, ok := parseOpenKey(openKey(1, 1)[:16]); ok {
			t.Fatal("a short key parsed")
		}
	})
	t.Run("proposal keys sort by id and lie in their prefix", func(t *testing.T) {
		start, end := ProposalPrefix()
		k1, k2 := ProposalKey(1), ProposalKey(256)
		if bytes.Compare(k1, k2) >= 0 || bytes.Compare(k1, start) < 0 || bytes.Compare(k2, end) >= 0 {
			t.Fatal("proposal keys out of order or range")
		}
	})
}
