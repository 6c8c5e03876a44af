package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const goodPass = "correct horse battery staple"

// recorder is a PassphraseFunc that returns pass (or err) and records the
// confirm flag of every call.
type recorder struct {
	pass  string
	err   error
	calls []bool
}

func (r *recorder) prompt(confirm bool) (string, error) {
	r.calls = append(r.calls, confirm)
	return r.pass, r.err
}

func fixed(pass string) PassphraseFunc {
	return func(bool) (string, error) { return pass, nil }
}

// openKeyring opens a keyring in dir with cheap KDF parameters, so that the
// file backend is as fast as the test backend in tests.
func openKeyring(t testing.TB, dir, backend string, prompt PassphraseFunc) *Keyring {
	t.Helper()
	kr, err := Open(dir, backend, prompt)
	if err != nil {
		t.Fatalf("Open(%s): %v", backend, err)
	}
	kr.kdf = testKDF
	return kr
}

func mustAdd(t testing.TB, kr *Keyring, name string) Key {
	t.Helper()
	k, err := kr.Add(name)
	if err != nil {
		t.Fatalf("Add(%q): %v", name, err)
	}
	return k
}

func names(keys []Key) string {
	var s []string
	for _, k := range keys {
		s = append(s, k.Name)
	}
	return strings.Join(s, ",")
}

func TestAddListShowDelete(t *testing.T) {
	for _, backend := range []string{BackendFile, BackendTest} {
		t.Run("the "+backend+" backend adds, lists, shows and deletes keys", func(t *testing.T) {
			dir := t.TempDir()
			kr := openKeyring(t, dir, backend, fixed(goodPass))

			keys, err := kr.List()
			if err != nil || len(keys) != 0 {
				t.Fatalf("List on an empty keyring = %v, %v", keys, err)
			}
			bob := mustAdd(t, kr, "bob")
			alice := mustAdd(t, kr, "alice")
			mustAdd(t, kr, "alice-b.2")
			if alice.Address != AddressOf(alice.PubKey) || len(alice.PubKey) != ed25519.PublicKeySize {
				t.Fatalf("Add returned inconsistent key %+v", alice)
			}
			if alice.CreatedAt.IsZero() || bytes.Equal(alice.PubKey, bob.PubKey) {
				t.Fatalf("Add returned %+v and %+v", alice, bob)
			}

			keys, err = kr.List()
			if err != nil {
				t.Fatalf("List: %v", err)
			}
			if got := names(keys); got != "alice,alice-b.2,bob" {
				t.Fatalf("List names = %s, want sorted by name", got)
			}
			shown, err := kr.Show("alice")
			if err != nil {
				t.Fatalf("Show: %v", err)
			}
			if shown.Name != alice.Name || shown.Address != alice.Address ||
				!bytes.Equal(shown.PubKey, alice.PubKey) || !shown.CreatedAt.Equal(alice.CreatedAt) {
				t.Fatalf("Show = %+v, Add returned %+v", shown, alice)
			}

			if err := kr.Delete("bob"); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			if keys, _ = kr.List(); names(keys) != "alice,alice-b.2" {
				t.Fatalf("List after delete = %s", names(keys))
			}
			if _, err := kr.Show("bob"); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("Show deleted key: err = %v, want ErrKeyNotFound", err)
			}
			if err := kr.Delete("bob"); !errors.Is(err, ErrKeyNotFound) {
				t.Fatalf("Delete twice: err = %v, want ErrKeyNotFound", err)
			}

			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				if !strings.HasSuffix(e.Name(), keyFileExt) {
					t.Errorf("stray file %s left in the keyring", e.Name())
				}
			}
		})
	}
}

func TestListSkipsFilesThatAreNotKeys(t *testing.T) {
	dir := t.TempDir()
	kr := openKeyring(t, dir, BackendTest, nil)
	mustAdd(t, kr, "alice")
	for _, name := range []string{".tmp-bob-123", "README", "Upper.key"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("junk"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Mkdir(filepath.Join(dir, "sub.key"), 0o700); err != nil {
		t.Fatal(err)
	}
	keys, err := kr.List()
	if err != nil || names(keys) != "alice" {
		t.Fatalf("List = %s, %v; want only alice", names(keys), err)
	}
}

func TestKeyNames(t *testing.T) {
	tests := []struct {
		name    string
		key     string
		wantErr error
	}{
		{name: "a single letter is a valid name", key: "a"},
		{name: "a single digit is a valid name", key: "7"},
		{name: "dots, dashes and underscores are allowed after the first character", key: "ward-3.nurse_1"},
		{name: "64 characters are allowed", key: strings.Repeat("a", 64)},
		{name: "65 characters are refused", key: strings.Repeat("a", 65), wantErr: ErrInvalidName},
		{name: "an empty name is refused", key: "", wantErr: ErrInvalidName},
		{name: "uppercase letters are refused", key: "Alice", wantErr: ErrInvalidName},
		{name: "a leading dot is refused", key: ".hidden", wantErr: ErrInvalidName},
		{name: "a leading dash is refused", key: "-rf", wantErr: ErrInvalidName},
		{name: "a slash is refused", key: "a/b", wantErr: ErrInvalidName},
		{name: "a parent directory is refused", key: "../escape", wantErr: ErrInvalidName},
		{name: "a space is refused", key: "a b", wantErr: ErrInvalidName},
		{name: "non-ASCII letters are refused", key: "é", wantErr: ErrInvalidName},
		{name: "a trailing newline is refused", key: "alice\n", wantErr: ErrInvalidName},
	}
	kr := openKeyring(t, t.TempDir(), BackendTest, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := kr.Add(tt.key)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Add(%q): err = %v, want %v", tt.key, err, tt.wantErr)
			}
			if _, err := kr.Show(tt.key); tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("Show(%q): err = %v, want %v", tt.key, err, tt.wantErr)
			}
		})
	}
}

func TestDuplicateNames(t *testing.T) {
	rec := &recorder{pass: goodPass}
	kr := openKeyring(t, t.TempDir(), BackendFile, rec.prompt)
	first := mustAdd(t, kr, "alice")
	rec.calls = nil

	tests := []struct {
		name string
		add  func() error
	}{
		{name: "Add refuses an existing name", add: func() error { _, err := kr.Add("alice"); return err }},
		{name: "ImportPrivate refuses an existing name", add: func() error {
			_, priv, _ := ed25519.GenerateKey(rand.Reader)
			_, err := kr.ImportPrivate("alice", priv)
			return err
		}},
		{name: "Import refuses an existing name", add: func() error { _, err := kr.Import("alice", []byte("{}"), goodPass); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.add(); !errors.Is(err, ErrKeyExists) {
				t.Fatalf("err = %v, want ErrKeyExists", err)
			}
			if len(rec.calls) != 0 {
				t.Fatalf("the passphrase was asked %d times for a name that is taken", len(rec.calls))
			}
			if k, _ := kr.Show("alice"); !bytes.Equal(k.PubKey, first.PubKey) {
				t.Fatal("the existing key was overwritten")
			}
		})
	}
}

func TestWriteNewNeverOverwrites(t *testing.T) {
	kr := openKeyring(t, t.TempDir(), BackendTest, nil)
	first := mustAdd(t, kr, "alice")
	// Bypass the existence check, as a concurrent process would.
	if err := kr.writeNew("alice", []byte("other")); !errors.Is(err, ErrKeyExists) {
		t.Fatalf("writeNew over an existing key: err = %v, want ErrKeyExists", err)
	}
	if k, err := kr.Show("alice"); err != nil || !bytes.Equal(k.PubKey, first.PubKey) {
		t.Fatalf("existing key changed: %v", err)
	}
}

func TestPromptIsAskedOnlyWhenNeeded(t *testing.T) {
	rec := &recorder{pass: goodPass}
	kr := openKeyring(t, t.TempDir(), BackendFile, rec.prompt)
	steps := []struct {
		name string
		do   func() error
		want []bool
	}{
		{name: "Add asks a new passphrase with confirmation", do: func() error { _, err := kr.Add("alice"); return err }, want: []bool{true}},
		{name: "List asks nothing", do: func() error { _, err := kr.List(); return err }},
		{name: "Show asks nothing", do: func() error { _, err := kr.Show("alice"); return err }},
		{name: "Signer asks the passphrase once without confirmation", do: func() error { _, err := kr.Signer("alice"); return err }, want: []bool{false}},
		{name: "Export asks the keyring passphrase without confirmation", do: func() error { _, err := kr.Export("alice", "export passphrase"); return err }, want: []bool{false}},
		{name: "Import asks a new passphrase with confirmation", do: func() error {
			data, err := kr.Export("alice", "export passphrase")
			if err != nil {
				return err
			}
			rec.calls = nil
			_, err = kr.Import("alice2", data, "export passphrase")
			return err
		}, want: []bool{true}},
		{name: "an invalid name is refused before asking", do: func() error { _, err := kr.Add("Bad"); return expectErr(err, ErrInvalidName) }},
		{name: "Delete asks nothing", do: func() error { return kr.Delete("alice") }},
	}
	for _, st := range steps {
		t.Run(st.name, func(t *testing.T) {
			rec.calls = nil
			if err := st.do(); err != nil {
				t.Fatal(err)
			}
			if !equalBools(rec.calls, st.want) {
				t.Fatalf("prompt calls = %v, want %v", rec.calls, st.want)
			}
		})
	}

	t.Run("the test backend never calls the prompt", func(t *testing.T) {
		rec := &recorder{err: errors.New("must not be called")}
		kr := openKeyring(t, t.TempDir(), BackendTest, rec.prompt)
		mustAdd(t, kr, "alice")
		if _, err := kr.Signer("alice"); err != nil {
			t.Fatal(err)
		}
		if len(rec.calls) != 0 {
			t.Fatalf("prompt called %d times", len(rec.calls))
		}
	})
}

// expectErr returns nil if err wraps want, and an error saying so otherwise.
func expectErr(err, want error) error {
	if errors.Is(err, want) {
		return nil
	}
	return errors.Join(errors.New("unexpected error"), err)
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestNewPassphraseRules(t *testing.T) {
	promptErr := errors.New("terminal closed")
	tests := []struct {
		name    string
		pass    string
		err     error
		wantErr error
	}{
		{name: "an empty passphrase is refused", pass: "", wantErr: ErrWeakPassphrase},
		{name: "a seven-character passphrase is refused", pass: "1234567", wantErr: ErrWeakPassphrase},
		{name: "seven two-byte characters are still seven characters and refused", pass: "ééééééé", wantErr: ErrWeakPassphrase},
		{name: "an eight-character passphrase is accepted", pass: "12345678"},
		{name: "an error from the prompt is returned wrapped", err: promptErr, wantErr: promptErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := openKeyring(t, dir, BackendFile, (&recorder{pass: tt.pass, err: tt.err}).prompt)
			_, err := kr.Add("alice")
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Add: err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil {
				return
			}
			if _, err := os.Stat(filepath.Join(dir, "alice.key")); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("a refused Add left a key file: %v", err)
			}
		})
	}
	if ErrWeakPassphrase.Error() != "keyring: passphrase must be at least 8 characters" {
		t.Fatalf("ErrWeakPassphrase reads %q", ErrWeakPassphrase)
	}
}

func TestSigner(t *testing.T) {
	for _, backend := range []string{BackendFile, BackendTest} {
		t.Run("the "+backend+" backend returns a private key matching the stored public key", func(t *testing.T) {
			kr := openKeyring(t, t.TempDir(), backend, fixed(goodPass))
			k := mustAdd(t, kr, "alice")
			priv, err := kr.Signer("alice")
			if err != nil {
				t.Fatalf("Signer: %v", err)
			}
			if !bytes.Equal(priv.Public().(ed25519.PublicKey), k.PubKey) {
				t.Fatal("Signer's public key differs from the stored one")
			}
			msg := []byte("transfer 10 to ward 3")
			if !ed25519.Verify(k.PubKey, msg, ed25519.Sign(priv, msg)) {
				t.Fatal("signature does not verify")
			}
		})
	}
	t.Run("a missing key is reported as not found", func(t *testing.T) {
		kr := openKeyring(t, t.TempDir(), BackendTest, nil)
		if _, err := kr.Signer("nobody"); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("err = %v, want ErrKeyNotFound", err)
		}
	})
}

func TestWrongPassphrase(t *testing.T) {
	const wrong = "not the passphrase at all"
	dir := t.TempDir()
	mustAdd(t, openKeyring(t, dir, BackendFile, fixed(goodPass)), "alice")
	kr := openKeyring(t, dir, BackendFile, fixed(wrong))

	tests := []struct {
		name string
		do   func() error
	}{
		{name: "Signer refuses a wrong passphrase", do: func() error { _, err := kr.Signer("alice"); return err }},
		{name: "Export refuses a wrong passphrase", do: func() error { _, err := kr.Export("alice", "export passphrase"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.do()
			if !errors.Is(err, ErrWrongPassphrase) {
				t.Fatalf("err = %v, want ErrWrongPassphrase", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "wrong passphrase") || !strings.Contains(msg, `"alice"`) {
				t.Fatalf("message %q does not say clearly what failed", msg)
			}
			if strings.Contains(msg, wrong) || strings.Contains(msg, goodPass) {
				t.Fatalf("message %q holds a passphrase", msg)
			}
		})
	}
}

// editKeyFile rewrites the JSON of dir/name.key through edit, keeping 0600.
func editKeyFile(t *testing.T, dir, name string, edit func(m map[string]any)) {
	t.Helper()
	path := filepath.Join(dir, name+keyFileExt)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	edit(m)
	if data, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// flipByte flips the last bit of the first byte of a base64 field.
func flipByte(t *testing.T, m map[string]any, field string) {
	t.Helper()
	b, err := base64.StdEncoding.DecodeString(m[field].(string))
	if err != nil {
		t.Fatal(err)
	}
	b[0] ^= 1
	m[field] = base64.StdEncoding.EncodeToString(b)
}

func TestTamperedKeyFiles(t *testing.T) {
	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tests := []struct {
		name    string
		tamper  func(t *testing.T, dir string)
		key     string // name to read after tampering
		show    error  // want from Show (nil: Show succeeds)
		signer  error  // want from Signer
		message string // substring of the error
	}{
		{
			name: "a flipped ciphertext byte is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { flipByte(t, m, "ciphertext") })
			},
			key: "alice", signer: ErrWrongPassphrase,
		},
		{
			name: "a changed nonce is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { flipByte(t, m, "nonce") })
			},
			key: "alice", signer: ErrWrongPassphrase,
		},
		{
			name: "a changed salt is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { flipByte(t, m["kdf"].(map[string]any), "salt") })
			},
			key: "alice", signer: ErrWrongPassphrase,
		},
		{
			name: "a changed creation time is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { m["created_at"] = "2001-02-03T04:05:06Z" })
			},
			key: "alice", signer: ErrWrongPassphrase,
		},
		{
			name: "an address that does not match the public key is refused on read",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { m["address"] = AddressOf(otherPub) })
			},
			key: "alice", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "does not match the public key",
		},
		{
			name: "a substituted public key with its address is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) {
					m["pubkey"] = base64.StdEncoding.EncodeToString(otherPub)
					m["address"] = AddressOf(otherPub)
				})
			},
			key: "alice", signer: ErrWrongPassphrase,
		},
		{
			name: "a renamed file is refused on read",
			tamper: func(t *testing.T, dir string) {
				if err := os.Rename(filepath.Join(dir, "alice.key"), filepath.Join(dir, "mallory.key")); err != nil {
					t.Fatal(err)
				}
			},
			key: "mallory", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "cannot be renamed",
		},
		{
			name: "a file copied over another key is refused on read",
			tamper: func(t *testing.T, dir string) {
				data, _ := os.ReadFile(filepath.Join(dir, "alice.key"))
				if err := os.WriteFile(filepath.Join(dir, "bob.key"), data, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			key: "bob", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: `holds key "alice"`,
		},
		{
			name: "a renamed file with its name field edited is detected on decryption",
			tamper: func(t *testing.T, dir string) {
				if err := os.Rename(filepath.Join(dir, "alice.key"), filepath.Join(dir, "mallory.key")); err != nil {
					t.Fatal(err)
				}
				editKeyFile(t, dir, "mallory", func(m map[string]any) { m["name"] = "mallory" })
			},
			key: "mallory", signer: ErrWrongPassphrase,
		},
		{
			name: "an unknown field is refused",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { m["comment"] = "hi" })
			},
			key: "alice", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: `unknown field "comment"`,
		},
		{
			name: "an unsupported version is refused",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { m["version"] = 2 })
			},
			key: "alice", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "unsupported version 2",
		},
		{
			name: "an absurd KDF memory cost is refused before running the KDF",
			tamper: func(t *testing.T, dir string) {
				editKeyFile(t, dir, "alice", func(m map[string]any) { m["kdf"].(map[string]any)["memory"] = 1 << 30 })
			},
			key: "alice", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "kdf.memory",
		},
		{
			name: "trailing data after the JSON object is refused",
			tamper: func(t *testing.T, dir string) {
				f, err := os.OpenFile(filepath.Join(dir, "alice.key"), os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					t.Fatal(err)
				}
				_, _ = f.WriteString(`{"more":1}`)
				_ = f.Close()
			},
			key: "alice", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "after the JSON object",
		},
		{
			name: "a symbolic link in place of a key file is refused",
			tamper: func(t *testing.T, dir string) {
				if err := os.Symlink(filepath.Join(dir, "alice.key"), filepath.Join(dir, "carol.key")); err != nil {
					t.Skip("no symlinks:", err)
				}
			},
			key: "carol", show: ErrInvalidKeyFile, signer: ErrInvalidKeyFile, message: "not a regular file",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := openKeyring(t, dir, BackendTest, nil)
			mustAdd(t, kr, "alice")
			mustAdd(t, kr, "bob")
			tt.tamper(t, dir)

			_, err := kr.Show(tt.key)
			if !errors.Is(err, tt.show) {
				t.Fatalf("Show: err = %v, want %v", err, tt.show)
			}
			_, err = kr.Signer(tt.key)
			if !errors.Is(err, tt.signer) {
				t.Fatalf("Signer: err = %v, want %v", err, tt.signer)
			}
			if !strings.Contains(err.Error(), tt.message) {
				t.Fatalf("Signer: err = %q, want it to mention %q", err, tt.message)
			}
		})
	}
}

func TestPermissionsOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "home", "keyring")
	kr := openKeyring(t, dir, BackendTest, nil)
	mustAdd(t, kr, "alice")
	tests := []struct {
		name string
		path string
		want os.FileMode
	}{
		{name: "the keyring directory is created with mode 0700", path: dir, want: 0o700},
		{name: "a key file is written with mode 0600", path: filepath.Join(dir, "alice.key"), want: 0o600},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fi, err := os.Stat(tt.path)
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode().Perm(); got != tt.want {
				t.Fatalf("mode = %04o, want %04o", got, tt.want)
			}
		})
	}
}

func TestInsecureKeyFileIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		wantErr error
	}{
		{name: "a world-readable file (0644) is refused", mode: 0o644, wantErr: ErrInsecurePermissions},
		{name: "a group-readable file (0640) is refused", mode: 0o640, wantErr: ErrInsecurePermissions},
		{name: "an other-writable file (0602) is refused", mode: 0o602, wantErr: ErrInsecurePermissions},
		{name: "an owner-only file (0600) is accepted", mode: 0o600},
		{name: "a read-only owner file (0400) is accepted", mode: 0o400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := openKeyring(t, dir, BackendTest, nil)
			mustAdd(t, kr, "alice")
			path := filepath.Join(dir, "alice.key")
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			ops := map[string]func() error{
				"Show":   func() error { _, err := kr.Show("alice"); return err },
				"List":   func() error { _, err := kr.List(); return err },
				"Signer": func() error { _, err := kr.Signer("alice"); return err },
			}
			for op, do := range ops {
				err := do()
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("%s: err = %v, want %v", op, err, tt.wantErr)
				}
				if tt.wantErr != nil && !strings.Contains(err.Error(), "chmod 600 "+path) {
					t.Fatalf("%s: err = %q does not tell how to fix it", op, err)
				}
			}
		})
	}
}

func TestInsecureDirectoryIsRefused(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode
		wantErr error
	}{
		{name: "a group-writable directory is refused", mode: 0o770, wantErr: ErrInsecurePermissions},
		{name: "an other-writable directory is refused", mode: 0o702, wantErr: ErrInsecurePermissions},
		{name: "a world-writable directory is refused", mode: 0o777, wantErr: ErrInsecurePermissions},
		{name: "a group-readable directory is accepted", mode: 0o750},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.Chmod(dir, tt.mode); err != nil {
				t.Fatal(err)
			}
			_, err := Open(dir, BackendTest, nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Open: err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil && !strings.Contains(err.Error(), "chmod 700 "+dir) {
				t.Fatalf("err = %q does not tell how to fix it", err)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		dir     string
		backend string
		prompt  PassphraseFunc
		wantErr string
	}{
		{name: "the test backend needs no prompt", dir: t.TempDir(), backend: BackendTest},
		{name: "the file backend needs a prompt", dir: t.TempDir(), backend: BackendFile, wantErr: "needs a passphrase prompt"},
		{name: "an unknown backend is refused", dir: t.TempDir(), backend: "os", prompt: fixed(goodPass), wantErr: `unknown backend "os"`},
		{name: "an empty directory path is refused", dir: "", backend: BackendTest, wantErr: "directory is empty"},
		{name: "a path that is a file is refused", dir: notDir, backend: BackendTest, wantErr: "create directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := Open(tt.dir, tt.backend, tt.prompt)
			if tt.wantErr == "" {
				if err != nil || kr == nil {
					t.Fatalf("Open: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Open: err = %v, want it to mention %q", err, tt.wantErr)
			}
		})
	}
}

func TestBackendMismatch(t *testing.T) {
	tests := []struct {
		name   string
		writer string
		reader string
	}{
		{name: "the file backend refuses a key written by the test backend", writer: BackendTest, reader: BackendFile},
		{name: "the test backend refuses a key written by the file backend", writer: BackendFile, reader: BackendTest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			mustAdd(t, openKeyring(t, dir, tt.writer, fixed(goodPass)), "alice")
			rec := &recorder{pass: goodPass}
			kr := openKeyring(t, dir, tt.reader, rec.prompt)
			ops := map[string]func() error{
				"Show":   func() error { _, err := kr.Show("alice"); return err },
				"List":   func() error { _, err := kr.List(); return err },
				"Signer": func() error { _, err := kr.Signer("alice"); return err },
				"Delete": func() error { return kr.Delete("alice") },
			}
			for op, do := range ops {
				err := do()
				if !errors.Is(err, ErrBackendMismatch) {
					t.Fatalf("%s: err = %v, want ErrBackendMismatch", op, err)
				}
				if !strings.Contains(err.Error(), "--keyring-backend "+tt.writer) {
					t.Fatalf("%s: err = %q does not say which backend to use", op, err)
				}
			}
			if len(rec.calls) != 0 {
				t.Fatal("the passphrase was asked for a key of the other backend")
			}
		})
	}
}

func TestImportPrivate(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	inconsistent := append(ed25519.PrivateKey(nil), priv...)
	inconsistent[63] ^= 1
	tests := []struct {
		name    string
		priv    ed25519.PrivateKey
		wantErr string
	}{
		{name: "a generated private key is stored and comes back from Signer", priv: priv},
		{name: "a key of the wrong length is refused", priv: priv[:32], wantErr: "32 bytes, want 64"},
		{name: "a key whose public half does not match its seed is refused", priv: inconsistent, wantErr: "does not match its seed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr := openKeyring(t, t.TempDir(), BackendFile, fixed(goodPass))
			before := append([]byte(nil), tt.priv...)
			k, err := kr.ImportPrivate("alice", tt.priv)
			if !bytes.Equal(before, tt.priv) {
				t.Fatal("ImportPrivate modified its argument")
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to mention %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ImportPrivate: %v", err)
			}
			if !bytes.Equal(k.PubKey, pub) || k.Address != AddressOf(pub) {
				t.Fatalf("ImportPrivate returned %+v", k)
			}
			got, err := kr.Signer("alice")
			if err != nil || !bytes.Equal(got, priv) {
				t.Fatalf("Signer after ImportPrivate: %v", err)
			}
		})
	}
}

func TestExportImport(t *testing.T) {
	const exportPass = "export passphrase 1"
	srcDir := t.TempDir()
	src := openKeyring(t, srcDir, BackendFile, fixed(goodPass))
	alice := mustAdd(t, src, "alice")
	want, err := src.Signer("alice")
	if err != nil {
		t.Fatal(err)
	}
	data, err := src.Export("alice", exportPass)
	if err != nil {
		t.Fatalf("Export: %v", err)
	}

	t.Run("the export holds neither the seed nor a passphrase in clear", func(t *testing.T) {
		for _, secret := range [][]byte{want.Seed(), []byte(base64.StdEncoding.EncodeToString(want.Seed())), []byte(goodPass), []byte(exportPass)} {
			if bytes.Contains(data, secret) {
				t.Fatal("export leaks a secret")
			}
		}
	})

	tamperedAddr := bytes.Replace(data, []byte(alice.Address), []byte(AddressOf(make([]byte, 32))), 1)
	tests := []struct {
		name      string
		backend   string
		data      []byte
		pass      string
		wantErr   error
		wantMatch bool
	}{
		{name: "an export imports into another file keyring with the same key", backend: BackendFile, data: data, pass: exportPass},
		{name: "an export imports into a test keyring with the same key", backend: BackendTest, data: data, pass: exportPass},
		{name: "a wrong export passphrase is refused", backend: BackendFile, data: data, pass: "wrong export passphrase", wantErr: ErrWrongPassphrase},
		{name: "an edited address is refused", backend: BackendFile, data: tamperedAddr, pass: exportPass, wantErr: ErrInvalidExport},
		{name: "garbage is refused", backend: BackendFile, data: []byte("-----BEGIN nonsense"), pass: exportPass, wantErr: ErrInvalidExport},
		{name: "a key file is not an export", backend: BackendFile, data: mustRead(t, filepath.Join(srcDir, "alice.key")), pass: goodPass, wantErr: ErrInvalidExport},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dst := openKeyring(t, t.TempDir(), tt.backend, fixed("another keyring passphrase"))
			k, err := dst.Import("imported", tt.data, tt.pass)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("Import: err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr != nil {
				if strings.Contains(err.Error(), tt.pass) {
					t.Fatalf("err = %q holds the passphrase", err)
				}
				if keys, _ := dst.List(); len(keys) != 0 {
					t.Fatal("a refused import left a key")
				}
				return
			}
			if k.Name != "imported" || k.Address != alice.Address || !bytes.Equal(k.PubKey, alice.PubKey) {
				t.Fatalf("Import returned %+v, want the key of %+v", k, alice)
			}
			got, err := dst.Signer("imported")
			if err != nil || !bytes.Equal(got, want) {
				t.Fatalf("Signer after Import: %v", err)
			}
		})
	}

	t.Run("a short export passphrase is refused", func(t *testing.T) {
		if _, err := src.Export("alice", "short"); !errors.Is(err, ErrWeakPassphrase) {
			t.Fatalf("err = %v, want ErrWeakPassphrase", err)
		}
	})
	t.Run("exporting a missing key is reported as not found", func(t *testing.T) {
		if _, err := src.Export("nobody", exportPass); !errors.Is(err, ErrKeyNotFound) {
			t.Fatalf("err = %v, want ErrKeyNotFound", err)
		}
	})
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRecordedKDFParameters(t *testing.T) {
	tests := []struct {
		name    string
		backend string
		want    kdfParams
	}{
		{name: "the file backend records Argon2id with time 3, 64 MiB and 2 threads", backend: BackendFile, want: fileKDF},
		{name: "the test backend records cheap Argon2id parameters", backend: BackendTest, want: testKDF},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			kr, err := Open(dir, tt.backend, fixed(goodPass)) // default cost, not lowered
			if err != nil {
				t.Fatal(err)
			}
			mustAdd(t, kr, "alice")
			kf, err := decodeKeyFile(mustRead(t, filepath.Join(dir, "alice.key")))
			if err != nil {
				t.Fatal(err)
			}
			got := kf.KDF
			if got.Alg != tt.want.Alg || got.Time != tt.want.Time || got.Memory != tt.want.Memory || got.Threads != tt.want.Threads {
				t.Fatalf("recorded KDF %+v, want %+v", got, tt.want)
			}
			if kf.Backend != tt.backend {
				t.Fatalf("recorded backend %q, want %q", kf.Backend, tt.backend)
			}
			// A keyring with other default costs decrypts with what is recorded.
			other := openKeyring(t, dir, tt.backend, fixed(goodPass))
			if _, err := other.Signer("alice"); err != nil {
				t.Fatalf("Signer with recorded parameters: %v", err)
			}
		})
	}
}
