package sharing_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/sharing"
)

func openKeyring(t *testing.T) (*keyring.Keyring, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "keyring")
	kr, err := keyring.Open(dir, keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	return kr, dir
}

func TestNewIdentityStoresTwoKeysThatLoadBack(t *testing.T) {
	kr, dir := openKeyring(t)
	id, err := sharing.NewIdentity(kr, "dr-lee")
	if err != nil {
		t.Fatal(err)
	}
	t.Run("both key files exist and are private", func(t *testing.T) {
		for _, n := range []string{"dr-lee", "dr-lee-seal"} {
			st, err := os.Stat(filepath.Join(dir, n+".key"))
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v %v", n, st, err)
			}
		}
	})
	t.Run("loading gives the same signing and sealing keys", func(t *testing.T) {
		got, err := sharing.LoadIdentity(kr, "dr-lee")
		if err != nil {
			t.Fatal(err)
		}
		if !got.Sign.Equal(id.Sign) || got.SealPriv != id.SealPriv || got.SealPub != id.SealPub || got.Address() != id.Address() {
			t.Fatal("the loaded identity differs from the created one")
		}
	})
	t.Run("the seal key pair works with recordcrypto", func(t *testing.T) {
		key, _ := recordcrypto.NewDataKey()
		sealed, err := recordcrypto.SealKey(key, []byte("r"), id.SealPub)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := recordcrypto.OpenKey(sealed, []byte("r"), id.SealPriv); err != nil || got != key {
			t.Fatalf("open: %v", err)
		}
	})
	t.Run("the signing and sealing keys are independent", func(t *testing.T) {
		if [32]byte(id.Sign.Seed()) == id.SealPriv {
			t.Fatal("the seal key is the signing seed")
		}
	})
	t.Run("wiping clears the secrets", func(t *testing.T) {
		c, _ := sharing.LoadIdentity(kr, "dr-lee")
		c.Wipe()
		if c.SealPriv != ([32]byte{}) || strings.Trim(string(c.Sign), "\x00") != "" {
			t.Fatal("secrets left after Wipe")
		}
	})
}

func TestIdentityRefusals(t *testing.T) {
	kr, _ := openKeyring(t)
	if _, err := kr.Add("taken"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Add("half-seal"); err != nil {
		t.Fatal(err)
	}
	if _, err := kr.Add("lonely"); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		do        func() error
		is        error
		says      string
		noSuchKey string
	}{
		{"a taken name is refused", func() error { _, err := sharing.NewIdentity(kr, "taken"); return err }, keyring.ErrKeyExists, "taken", "taken-seal"},
		{"a name whose seal key is taken is refused and creates nothing", func() error { _, err := sharing.NewIdentity(kr, "half"); return err }, keyring.ErrKeyExists, "half-seal", "half"},
		{"a name too long for its seal key is refused", func() error { _, err := sharing.NewIdentity(kr, strings.Repeat("a", 60)); return err }, nil, "at most 59", ""},
		{"an empty name is refused", func() error { _, err := sharing.NewIdentity(kr, ""); return err }, nil, "empty", ""},
		{"an invalid name is refused by the keyring", func() error { _, err := sharing.NewIdentity(kr, "Dr Lee"); return err }, keyring.ErrInvalidName, "", ""},
		{"a key without its seal key does not load as a person", func() error { _, err := sharing.LoadIdentity(kr, "lonely"); return err }, keyring.ErrKeyNotFound, "lonely-seal", ""},
		{"a missing person does not load", func() error { _, err := sharing.LoadIdentity(kr, "ghost"); return err }, keyring.ErrKeyNotFound, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.do()
			if err == nil || (tc.is != nil && !errors.Is(err, tc.is)) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("got %v, want %v saying %q", err, tc.is, tc.says)
			}
			if tc.noSuchKey != "" {
				if _, err := kr.Show(tc.noSuchKey); !errors.Is(err, keyring.ErrKeyNotFound) {
					t.Fatalf("key %q exists after a refusal (%v)", tc.noSuchKey, err)
				}
			}
		})
	}
}

func TestLoadOrCreateIdentity(t *testing.T) {
	kr, _ := openKeyring(t)
	a, created, err := sharing.LoadOrCreateIdentity(kr, "pat-ann")
	if err != nil || !created {
		t.Fatalf("first call: created %v, %v", created, err)
	}
	b, created, err := sharing.LoadOrCreateIdentity(kr, "pat-ann")
	if err != nil || created {
		t.Fatalf("second call: created %v, %v", created, err)
	}
	if a.Address() != b.Address() || a.SealPub != b.SealPub {
		t.Fatal("the second call made another identity")
	}
}
