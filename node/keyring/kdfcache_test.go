package keyring

import (
	"bytes"
	"errors"
	"testing"
)

// TestOneStretchPerPassphraseAndProcess: the keys one Keyring seals under
// one passphrase share a salt (one Argon2id run) but not a nonce; they
// open in another process (a fresh Keyring); a key sealed by another
// process (another salt) opens too; the wrong passphrase opens none.
func TestOneStretchPerPassphraseAndProcess(t *testing.T) {
	dir := t.TempDir()
	first := openKeyring(t, dir, BackendFile, fixed("correct horse"))
	mustAdd(t, first, "a")
	mustAdd(t, first, "b")
	if err := first.SealData("note", []byte("secret data")); err != nil {
		t.Fatal(err)
	}
	second := openKeyring(t, dir, BackendFile, fixed("correct horse"))
	mustAdd(t, second, "c")

	files := map[string]*keyFile{}
	for _, n := range []string{"a", "b", "c"} {
		kf, err := first.read(n)
		if err != nil {
			t.Fatal(err)
		}
		files[n] = kf
	}
	t.Run("keys sealed in one process share the salt", func(t *testing.T) {
		if !bytes.Equal(files["a"].KDF.Salt, files["b"].KDF.Salt) {
			t.Error("a and b were sealed with different salts")
		}
		if len(first.derived.keys) != 1 {
			t.Errorf("%d Argon2id keys derived for one passphrase, want 1", len(first.derived.keys))
		}
	})
	t.Run("but never a nonce", func(t *testing.T) {
		if bytes.Equal(files["a"].Nonce, files["b"].Nonce) {
			t.Error("a and b share a nonce")
		}
	})
	t.Run("another process draws another salt", func(t *testing.T) {
		if bytes.Equal(files["a"].KDF.Salt, files["c"].KDF.Salt) {
			t.Error("two Keyrings drew the same salt")
		}
	})
	t.Run("every key and secret opens in a fresh process", func(t *testing.T) {
		fresh := openKeyring(t, dir, BackendFile, fixed("correct horse"))
		for _, n := range []string{"a", "b", "c"} {
			if _, err := fresh.Signer(n); err != nil {
				t.Errorf("Signer(%s): %v", n, err)
			}
		}
		data, err := fresh.OpenData("note")
		if err != nil || string(data) != "secret data" {
			t.Errorf("OpenData = %q, %v", data, err)
		}
		if len(fresh.derived.keys) != 2 {
			t.Errorf("%d keys derived to open files of two salts, want 2", len(fresh.derived.keys))
		}
	})
	t.Run("the wrong passphrase opens nothing, even after the right one", func(t *testing.T) {
		pass := "correct horse"
		kr := openKeyring(t, dir, BackendFile, func(bool) (string, error) { return pass, nil })
		if _, err := kr.Signer("a"); err != nil {
			t.Fatal(err)
		}
		pass = "wrong horse"
		for _, n := range []string{"a", "b", "c"} {
			if _, err := kr.Signer(n); !errors.Is(err, ErrWrongPassphrase) {
				t.Errorf("Signer(%s) with the wrong passphrase: %v", n, err)
			}
		}
	})
}
