package abci

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestCodeTable(t *testing.T) {
	t.Run("codes and names are unique and non-zero", func(t *testing.T) {
		codes, names := map[uint32]bool{}, map[string]bool{}
		for _, e := range Codes {
			if e.Code == 0 || e.Code == CodeInternal || codes[e.Code] || names[e.Name] || e.Err == nil || e.Hint == "" {
				t.Fatalf("bad entry %+v", e)
			}
			codes[e.Code], names[e.Name] = true, true
		}
	})
	t.Run("a wrapped sentinel maps to its code", func(t *testing.T) {
		for _, e := range Codes {
			code, name := CodeOf(fmt.Errorf("context: %w", e.Err))
			if code != e.Code || name != e.Name {
				t.Errorf("%v: got %d %s, want %d %s", e.Err, code, name, e.Code, e.Name)
			}
		}
	})
	t.Run("an unknown error is internal and nil is ok", func(t *testing.T) {
		if c, _ := CodeOf(fmt.Errorf("disk on fire")); c != CodeInternal {
			t.Fatalf("got %d", c)
		}
		if c, n := CodeOf(nil); c != 0 || n != "ok" {
			t.Fatalf("got %d %s", c, n)
		}
	})
}

func TestCodesDocMatchesTable(t *testing.T) {
	raw, err := os.ReadFile("../docs/CODES.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, e := range Codes {
		row := fmt.Sprintf("| %d | `%s` |", e.Code, e.Name)
		if !strings.Contains(doc, row) {
			t.Errorf("docs/CODES.md lacks the row %q", row)
		}
	}
}
