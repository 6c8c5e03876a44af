package atomicfile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	type writer func(string, []byte, os.FileMode) error
	cases := []struct {
		name     string
		write    writer
		existing []byte // nil: no file before
		perm     os.FileMode
		want     []byte
		wantErr  error
	}{
		{"WriteNew creates a missing file with its mode", WriteNew, nil, 0o600, []byte("new"), nil},
		{"WriteNew never replaces a file that is there", WriteNew, []byte("old"), 0o600, []byte("old"), fs.ErrExist},
		{"Replace creates a missing file with its mode", Replace, nil, 0o644, []byte("new"), nil},
		{"Replace replaces a file that is there", Replace, []byte("old"), 0o600, []byte("new"), nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "file")
			if c.existing != nil {
				if err := os.WriteFile(path, c.existing, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			err := c.write(path, []byte("new"), c.perm)
			if (c.wantErr == nil) != (err == nil) || (c.wantErr != nil && !errors.Is(err, c.wantErr)) {
				t.Fatalf("err = %v, want %v", err, c.wantErr)
			}
			got, err := os.ReadFile(path)
			if err != nil || string(got) != string(c.want) {
				t.Fatalf("file holds %q (%v), want %q", got, err, c.want)
			}
			if c.wantErr == nil {
				st, err := os.Stat(path)
				if err != nil || st.Mode().Perm() != c.perm {
					t.Fatalf("mode %v (%v), want %v", st.Mode().Perm(), err, c.perm)
				}
			}
			entries, err := os.ReadDir(dir)
			if err != nil || len(entries) != 1 {
				t.Fatalf("the folder holds %v (%v): a temporary file was left", entries, err)
			}
		})
	}
	t.Run("a missing folder is an error and creates nothing", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "absent", "file")
		for _, w := range []writer{WriteNew, Replace} {
			if err := w(path, []byte("x"), 0o600); !errors.Is(err, fs.ErrNotExist) {
				t.Fatalf("err = %v, want fs.ErrNotExist", err)
			}
		}
	})
}
