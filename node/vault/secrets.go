package vault

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// The vault's secrets are files in <home>/config, readable by their owner
// only (mode 0600): the vault key (32 raw random bytes, created per node by
// EnsureKeys) and the alliance pepper (hex text, the same in every member's
// home, written by WritePepper). Neither is ever logged, and no error message
// quotes their content.

const (
	// VaultKeySize is the size of the vault key: Badger's AES-256 master key.
	VaultKeySize = 32
	// MinPepperSize and MaxPepperSize bound the alliance pepper, in bytes.
	MinPepperSize = 32
	MaxPepperSize = 1024
	// PepperSize is the size GeneratePepper draws.
	PepperSize = 32

	secretFileMode = 0o600
)

// VaultKeyPath is where a home keeps its vault key.
func VaultKeyPath(home string) string { return filepath.Join(home, "config", "vault_key") }

// PepperPath is where a home keeps the alliance pepper.
func PepperPath(home string) string { return filepath.Join(home, "config", "pepper") }

// Dir is where a home keeps its vault database.
func Dir(home string) string { return filepath.Join(home, "data", "vault") }

// EnsureKeys creates the vault key of home (32 random bytes in
// VaultKeyPath, mode 0600) unless it exists; an existing key is checked, never
// replaced, since a new key would lock the vault. `medchain init` calls it;
// calling it again is harmless.
func EnsureKeys(home string) error {
	path := VaultKeyPath(home)
	if _, err := readSecretFile(path, "vault key"); err == nil {
		_, err = loadVaultKey(home)
		return err
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var key [VaultKeySize]byte
	if _, err := rand.Read(key[:]); err != nil {
		return fmt.Errorf("vault key: %w", err)
	}
	return writeSecretFile(path, key[:], false)
}

// loadVaultKey reads and checks the vault key of home.
func loadVaultKey(home string) ([]byte, error) {
	path := VaultKeyPath(home)
	key, err := readSecretFile(path, "vault key")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w: vault key %s does not exist (medchain init creates it; a vault cannot be opened without its key)", ErrKey, path)
	}
	if err != nil {
		return nil, err
	}
	if len(key) != VaultKeySize {
		return nil, fmt.Errorf("%w: vault key %s has %d bytes, want %d", ErrKey, path, len(key), VaultKeySize)
	}
	return key, nil
}

// GeneratePepper draws a fresh random alliance pepper of PepperSize bytes.
// An alliance generates it once, at set-up; its coordinator gives the same
// pepper to every member out of band (a localnet generator writes it to
// every home), and each member stores it with WritePepper.
func GeneratePepper() ([]byte, error) {
	p := make([]byte, PepperSize)
	if _, err := rand.Read(p); err != nil {
		return nil, fmt.Errorf("pepper: %w", err)
	}
	return p, nil
}

// WritePepper stores the alliance pepper in PepperPath(home) as hex text,
// mode 0600. It refuses a pepper shorter than MinPepperSize or longer than
// MaxPepperSize, and refuses to replace an existing different pepper: a new
// pepper would change every patient's pseudonym. Writing the same pepper
// again is a no-op.
func WritePepper(home string, pepper []byte) error {
	if err := checkPepper(pepper, "the pepper"); err != nil {
		return err
	}
	path := PepperPath(home)
	old, err := LoadPepper(home)
	switch {
	case err == nil && bytes.Equal(old, pepper):
		return nil
	case err == nil:
		return fmt.Errorf("%w: %s already holds a different alliance pepper; replacing it would change every pseudonym, so remove it by hand if you really mean it", ErrKey, path)
	case !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return writeSecretFile(path, pepperText(pepper), true)
}

// WritePepperFile writes pepper as hex text to a new file at path (0600);
// it never replaces a file.
func WritePepperFile(path string, pepper []byte) error {
	if err := checkPepper(pepper, "the pepper"); err != nil {
		return err
	}
	return writeSecretFile(path, pepperText(pepper), false)
}

func pepperText(pepper []byte) []byte {
	text := make([]byte, hex.EncodedLen(len(pepper))+1)
	hex.Encode(text, pepper)
	text[len(text)-1] = '\n'
	return text
}

// LoadPepper reads the alliance pepper from PepperPath(home). The error wraps
// fs.ErrNotExist when the file is missing, and ErrKey when it is too widely
// readable, not hex, or of the wrong size.
func LoadPepper(home string) ([]byte, error) {
	path := PepperPath(home)
	pepper, err := ReadPepperFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("pepper %s does not exist: every member node needs the alliance pepper, which the alliance's coordinator distributes (medchain pepper import) (%w)", path, fs.ErrNotExist)
	}
	return pepper, err
}

// ReadPepperFile reads a pepper file (hex text, mode 0600), such as one
// `medchain pepper generate` wrote, with LoadPepper's checks.
func ReadPepperFile(path string) ([]byte, error) {
	text, err := readSecretFile(path, "pepper")
	if err != nil {
		return nil, err
	}
	text = bytes.TrimSpace(text)
	pepper := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(pepper, text); err != nil {
		return nil, fmt.Errorf("%w: pepper %s is not hex text", ErrKey, path)
	}
	if err := checkPepper(pepper, "pepper "+path); err != nil {
		return nil, err
	}
	return pepper, nil
}

func checkPepper(pepper []byte, what string) error {
	if len(pepper) < MinPepperSize || len(pepper) > MaxPepperSize {
		return fmt.Errorf("%w: %s has %d bytes, want %d to %d", ErrKey, what, len(pepper), MinPepperSize, MaxPepperSize)
	}
	return nil
}

// readSecretFile reads a secret file after checking that it is a regular file
// no one but its owner may read or write. The error wraps fs.ErrNotExist when
// it is missing.
func readSecretFile(path, what string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s %s is not a regular file", ErrKey, what, path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s %s has mode %04o, readable by others; run: chmod 600 %s", ErrKey, what, path, perm, path)
	}
	if fi.Size() > 2*MaxPepperSize+2 {
		return nil, fmt.Errorf("%w: %s %s is %d bytes, too big to be one", ErrKey, what, path, fi.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", what, path, err)
	}
	return b, nil
}

// writeSecretFile writes data to a new file at path, mode 0600, creating its
// folder (0700). It never replaces an existing file: with replaceOK false it
// creates the file exclusively; with replaceOK true (the caller has checked)
// it writes a temporary file and renames it, so a crash leaves either no
// file or the whole one.
func writeSecretFile(path string, data []byte, replaceOK bool) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if !replaceOK {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, secretFileMode)
		if err != nil {
			return fmt.Errorf("create %s: %w", path, err)
		}
		if err := writeSync(f, data); err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("write %s: %w", path, err)
		}
		return nil
	}
	f, err := os.CreateTemp(dir, filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("create a temporary file in %s: %w", dir, err)
	}
	tmp := f.Name()
	if err := f.Chmod(secretFileMode); err != nil {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("chmod %s: %w", tmp, err)
	}
	if err := writeSync(f, data); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("rename %s to %s: %w", tmp, path, err)
	}
	return nil
}

// writeSync writes data, syncs and closes f.
func writeSync(f *os.File, data []byte) error {
	_, err := f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
