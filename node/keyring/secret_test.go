package keyring

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func randomData(t testing.TB, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return b
}

func TestSealDataRoundTrip(t *testing.T) {
	sizes := []struct {
		name string
		n    int
	}{
		{"an empty blob", 0},
		{"a small blob", 100},
		{"a blob of a few hundred KiB (a key-switching share)", 400 << 10},
		{"a blob of exactly MaxDataSize", MaxDataSize},
	}
	for _, backend := range []string{BackendFile, BackendTest} {
		for _, sz := range sizes {
			t.Run("the "+backend+" backend seals and opens "+sz.name, func(t *testing.T) {
				dir := t.TempDir()
				kr := openKeyring(t, dir, backend, fixed(goodPass))
				data := randomData(t, sz.n)
				if err := kr.SealData("he-epoch-1", data); err != nil {
					t.Fatal(err)
				}
				got, err := kr.OpenData("he-epoch-1")
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("OpenData returned %d bytes that differ from the %d sealed", len(got), len(data))
				}
				// A fresh handle on the same directory reads it too.
				got, err = openKeyring(t, dir, backend, fixed(goodPass)).OpenData("he-epoch-1")
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("reopened keyring: %v", err)
				}
				if sz.n > 64 {
					raw, _ := os.ReadFile(filepath.Join(dir, "he-epoch-1.secret"))
					if bytes.Contains(raw, data[:32]) {
						t.Fatal("the data file holds the plaintext")
					}
				}
			})
		}
	}
}

func TestSealDataRules(t *testing.T) {
	t.Run("a second SealData of a name fails with ErrDataExists and keeps the first", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendTest, nil)
		if err := kr.SealData("s", []byte("first")); err != nil {
			t.Fatal(err)
		}
		if err := kr.SealData("s", []byte("second")); !errors.Is(err, ErrDataExists) {
			t.Fatalf("err = %v, want ErrDataExists", err)
		}
		got, err := kr.OpenData("s")
		if err != nil || string(got) != "first" {
			t.Fatalf("OpenData = %q, %v", got, err)
		}
	})
	t.Run("data larger than MaxDataSize is refused", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendTest, nil)
		if err := kr.SealData("big", make([]byte, MaxDataSize+1)); err == nil {
			t.Fatal("SealData accepted an oversized blob")
		}
	})
	t.Run("invalid names are refused", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendTest, nil)
		for _, name := range []string{"", "../x", ".hidden", "UPPER", "a/b"} {
			if err := kr.SealData(name, nil); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("SealData(%q): err = %v, want ErrInvalidName", name, err)
			}
			if _, err := kr.OpenData(name); !errors.Is(err, ErrInvalidName) {
				t.Fatalf("OpenData(%q): err = %v, want ErrInvalidName", name, err)
			}
		}
	})
	t.Run("a missing secret is ErrDataNotFound", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendTest, nil)
		if _, err := kr.OpenData("nope"); !errors.Is(err, ErrDataNotFound) {
			t.Fatalf("err = %v", err)
		}
		if err := kr.DeleteData("nope"); !errors.Is(err, ErrDataNotFound) {
			t.Fatalf("err = %v", err)
		}
		if ok, err := kr.HasData("nope"); ok || err != nil {
			t.Fatalf("HasData = %v, %v", ok, err)
		}
	})
	t.Run("a weak passphrase is refused by the file backend", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendFile, fixed("short"))
		if err := kr.SealData("s", []byte("x")); !errors.Is(err, ErrWeakPassphrase) {
			t.Fatalf("err = %v, want ErrWeakPassphrase", err)
		}
	})
	t.Run("secrets and keys live side by side and are listed apart", func(t *testing.T) {
		dir := t.TempDir()
		kr := openKeyring(t, dir, BackendTest, nil)
		mustAdd(t, kr, "operator")
		for _, n := range []string{"b", "a", "operator"} {
			if err := kr.SealData(n, []byte(n)); err != nil {
				t.Fatal(err)
			}
		}
		stored, err := kr.ListData()
		if err != nil || strings.Join(stored, ",") != "a,b,operator" {
			t.Fatalf("ListData = %v, %v", stored, err)
		}
		keys, err := kr.List()
		if err != nil || names(keys) != "operator" {
			t.Fatalf("List = %v, %v", keys, err)
		}
		if err := kr.DeleteData("a"); err != nil {
			t.Fatal(err)
		}
		if ok, _ := kr.HasData("a"); ok {
			t.Fatal("deleted secret still there")
		}
		if _, err := kr.Signer("operator"); err != nil {
			t.Fatalf("deleting data touched the key: %v", err)
		}
	})
}

func TestOpenDataWrongPassphrase(t *testing.T) {
	dir := t.TempDir()
	kr := openKeyring(t, dir, BackendFile, fixed(goodPass))
	if err := kr.SealData("s", []byte("secret bytes")); err != nil {
		t.Fatal(err)
	}
	_, err := openKeyring(t, dir, BackendFile, fixed("not the passphrase")).OpenData("s")
	if !errors.Is(err, ErrWrongPassphrase) {
		t.Fatalf("err = %v, want ErrWrongPassphrase", err)
	}
	if strings.Contains(err.Error(), "secret bytes") || strings.Contains(err.Error(), goodPass) {
		t.Fatalf("error leaks a secret: %v", err)
	}
	t.Run("the test backend cannot read a file-backend secret", func(t *testing.T) {
		_, err := openKeyring(t, dir, BackendTest, nil).OpenData("s")
		if !errors.Is(err, ErrBackendMismatch) {
			t.Fatalf("err = %v, want ErrBackendMismatch", err)
		}
	})
}

func TestTamperedDataFiles(t *testing.T) {
	type edit func(t *testing.T, m map[string]any)
	setField := func(k string, v any) edit { return func(_ *testing.T, m map[string]any) { m[k] = v } }
	flipB64 := func(k string) edit {
		return func(t *testing.T, m map[string]any) {
			s := m[k].(string)
			b := []byte(s)
			if b[0] == 'A' {
				b[0] = 'B'
			} else {
				b[0] = 'A'
			}
			m[k] = string(b)
		}
	}
	tests := []struct {
		name    string
		edit    edit
		wantErr error
	}{
		{"a flipped ciphertext byte fails authentication", flipB64("ciphertext"), ErrWrongPassphrase},
		{"a changed nonce fails authentication", flipB64("nonce"), ErrWrongPassphrase},
		{"a changed creation time fails authentication", setField("created_at", "2001-01-01T00:00:00Z"), ErrWrongPassphrase},
		{"a changed KDF salt fails authentication", func(t *testing.T, m map[string]any) {
			kdf := m["kdf"].(map[string]any)
			kdf["salt"] = "AAAAAAAAAAAAAAAAAAAAAA=="
		}, ErrWrongPassphrase},
		{"a renamed secret inside the file is refused", setField("name", "other"), ErrInvalidDataFile},
		{"an unknown version is refused", setField("version", 2), ErrInvalidDataFile},
		{"an unknown field is refused", setField("extra", 1), ErrInvalidDataFile},
		{"a truncated ciphertext is refused", setField("ciphertext", "AAAA"), ErrInvalidDataFile},
		{"an absurd KDF cost is refused before deriving", func(t *testing.T, m map[string]any) {
			m["kdf"].(map[string]any)["memory"] = 1 << 30
		}, ErrInvalidDataFile},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := openKeyring(t, dir, BackendTest, nil)
			if err := kr.SealData("s", []byte("the share")); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, "s.secret")
			raw, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			if err := json.Unmarshal(raw, &m); err != nil {
				t.Fatal(err)
			}
			tt.edit(t, m)
			raw, _ = json.Marshal(m)
			if err := os.WriteFile(path, raw, 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := kr.OpenData("s"); !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
	t.Run("a secret copied under another name is refused", func(t *testing.T) {
		dir := t.TempDir()
		kr := openKeyring(t, dir, BackendTest, nil)
		if err := kr.SealData("a", []byte("x")); err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "a.secret"))
		if err := os.WriteFile(filepath.Join(dir, "b.secret"), raw, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.OpenData("b"); !errors.Is(err, ErrInvalidDataFile) {
			t.Fatalf("err = %v, want ErrInvalidDataFile", err)
		}
	})
	t.Run("an oversized file is refused without reading it all", func(t *testing.T) {
		dir := t.TempDir()
		kr := openKeyring(t, dir, BackendTest, nil)
		if err := os.WriteFile(filepath.Join(dir, "big.secret"), make([]byte, maxSecretFileSize+10), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.OpenData("big"); !errors.Is(err, ErrInvalidDataFile) {
			t.Fatalf("err = %v, want ErrInvalidDataFile", err)
		}
	})
}

func TestDataFilePermissions(t *testing.T) {
	dir := t.TempDir()
	kr := openKeyring(t, dir, BackendTest, nil)
	if err := kr.SealData("s", []byte("x")); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "s.secret")
	t.Run("a data file is written with mode 0600", func(t *testing.T) {
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("mode = %04o", fi.Mode().Perm())
		}
	})
	t.Run("no temporary file is left behind", func(t *testing.T) {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), tempFilePrefix) {
				t.Fatalf("left %s", e.Name())
			}
		}
	})
	t.Run("a group-readable data file is refused with the fix", func(t *testing.T) {
		if err := os.Chmod(path, 0o640); err != nil {
			t.Fatal(err)
		}
		_, err := kr.OpenData("s")
		if !errors.Is(err, ErrInsecurePermissions) || !strings.Contains(err.Error(), "chmod 600 "+path) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("a symlink is refused", func(t *testing.T) {
		if err := os.Symlink(path, filepath.Join(dir, "link.secret")); err != nil {
			t.Fatal(err)
		}
		if _, err := kr.OpenData("link"); !errors.Is(err, ErrInvalidDataFile) {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzDecodeSecretFile(f *testing.F) {
	dir := f.TempDir()
	kr := openKeyring(f, dir, BackendTest, nil)
	if err := kr.SealData("s", []byte("seed")); err != nil {
		f.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(dir, "s.secret"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(raw)
	f.Add([]byte(`{}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := decodeSecretFile(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidDataFile) {
				t.Fatalf("error %v does not wrap ErrInvalidDataFile", err)
			}
			return
		}
		if err := sf.validate(); err != nil {
			t.Fatalf("decoded a file that does not validate: %v", err)
		}
	})
}
