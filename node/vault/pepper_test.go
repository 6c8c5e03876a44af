package vault

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"strings"
	"testing"
)

func TestPepper(t *testing.T) {
	p, err := GeneratePepper()
	if err != nil {
		t.Fatal(err)
	}
	q, _ := GeneratePepper()
	if len(p) != PepperSize || bytes.Equal(p, q) {
		t.Fatalf("GeneratePepper: %d bytes, or twice the same", len(p))
	}

	t.Run("a written pepper loads back, in a 0600 file", func(t *testing.T) {
		home := t.TempDir()
		if err := WritePepper(home, p); err != nil {
			t.Fatal(err)
		}
		got, err := LoadPepper(home)
		if err != nil || !bytes.Equal(got, p) {
			t.Fatalf("LoadPepper: %v", err)
		}
		if fi, err := os.Stat(PepperPath(home)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("pepper file mode %v, %v", fi.Mode(), err)
		}
		if err := WritePepper(home, p); err != nil {
			t.Fatalf("writing the same pepper again: %v", err)
		}
	})
	t.Run("a different pepper never replaces the alliance's", func(t *testing.T) {
		home := t.TempDir()
		if err := WritePepper(home, p); err != nil {
			t.Fatal(err)
		}
		if err := WritePepper(home, q); !errors.Is(err, ErrKey) {
			t.Fatalf("got %v, want ErrKey", err)
		}
		if got, _ := LoadPepper(home); !bytes.Equal(got, p) {
			t.Fatal("the pepper changed")
		}
	})
	t.Run("a short pepper is refused", func(t *testing.T) {
		if err := WritePepper(t.TempDir(), p[:MinPepperSize-1]); !errors.Is(err, ErrKey) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a missing pepper says so", func(t *testing.T) {
		_, err := LoadPepper(t.TempDir())
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "coordinator") {
			t.Fatalf("got %v", err)
		}
	})
	for _, tc := range []struct {
		name    string
		content string
		mode    os.FileMode
		want    string
	}{
		{"a pepper readable by others is refused with the fix", strings.Repeat("ab", 32), 0o640, "chmod 600"},
		{"a pepper file that is not hex is refused", strings.Repeat("zz", 32), 0o600, "not hex"},
		{"a pepper file too short is refused", strings.Repeat("ab", 16), 0o600, "want 32 to 1024"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			home := t.TempDir()
			if err := writeSecretFile(PepperPath(home), []byte(tc.content), false); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(PepperPath(home), tc.mode); err != nil {
				t.Fatal(err)
			}
			_, err := LoadPepper(home)
			if !errors.Is(err, ErrKey) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrKey saying %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.content) {
				t.Fatal("the error quotes the pepper")
			}
		})
	}
}
