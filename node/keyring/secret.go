package keyring

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/medchain/medchain/node/internal/strictjson"
)

// Secrets other than keys: the node's workers keep what they generate and
// must never generate twice (multiparty key shares, decryption shares) as
// sealed data files next to the keys, under the same passphrase and KDF.

const (
	secretFileVersion = 1
	secretFileExt     = ".secret"
	// secretFileDomain separates secret-file associated data from any other use.
	secretFileDomain = "medchain/keyring/secret"
	// MaxDataSize bounds the plaintext SealData accepts.
	MaxDataSize = 8 << 20
	// maxSecretFileSize bounds what we read from a secret file: the
	// ciphertext of MaxDataSize bytes in base64, plus the JSON around it.
	maxSecretFileSize = (MaxDataSize+chacha20poly1305.Overhead+2)/3*4 + 16<<10
)

// secretFile is the on-disk form of one sealed data blob, <name>.secret:
//
//	{"version":1, "name":..., "created_at":RFC 3339, "backend":"file"|"test",
//	 "kdf":{...}, "nonce":base64, "ciphertext":base64}
//
// The ciphertext is the data sealed with XChaCha20-Poly1305 under a key
// derived from the passphrase with Argon2id; every clear field is bound as
// associated data, so a renamed, edited or swapped file fails to open.
type secretFile struct {
	Version    int       `json:"version"`
	Name       string    `json:"name"`
	CreatedAt  time.Time `json:"created_at"`
	Backend    string    `json:"backend"`
	KDF        kdfParams `json:"kdf"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

// decodeSecretFile parses and validates the bytes of a secret file. It
// never panics, whatever data holds.
func decodeSecretFile(data []byte) (*secretFile, error) {
	if len(data) > maxSecretFileSize {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d", ErrInvalidDataFile, len(data), maxSecretFileSize)
	}
	var sf secretFile
	if err := strictjson.Decode(data, &sf); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDataFile, err)
	}
	if err := sf.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidDataFile, err)
	}
	return &sf, nil
}

func (sf *secretFile) validate() error {
	switch {
	case sf.Version != secretFileVersion:
		return fmt.Errorf("unsupported version %d (this build reads version %d)", sf.Version, secretFileVersion)
	case sf.CreatedAt.IsZero():
		return errors.New("created_at is missing")
	case sf.Backend != BackendFile && sf.Backend != BackendTest:
		return fmt.Errorf("backend is %s, want %q or %q", quoteShort(sf.Backend), BackendFile, BackendTest)
	case len(sf.Nonce) != nonceSize:
		return fmt.Errorf("nonce is %d bytes, want %d", len(sf.Nonce), nonceSize)
	case len(sf.Ciphertext) < chacha20poly1305.Overhead || len(sf.Ciphertext) > MaxDataSize+chacha20poly1305.Overhead:
		return fmt.Errorf("ciphertext is %d bytes, want %d to %d", len(sf.Ciphertext), chacha20poly1305.Overhead, MaxDataSize+chacha20poly1305.Overhead)
	}
	if err := validateName(sf.Name); err != nil {
		return err
	}
	return sf.KDF.validate()
}

func (sf *secretFile) encode() ([]byte, error) {
	b, err := json.Marshal(sf)
	if err != nil {
		return nil, fmt.Errorf("keyring: encode data file: %w", err)
	}
	return append(b, '\n'), nil
}

// aad binds every clear field of the file to its ciphertext.
func (sf *secretFile) aad() []byte {
	var b []byte
	b = appendBytes(b, []byte(secretFileDomain))
	b = binary.BigEndian.AppendUint32(b, uint32(sf.Version))
	b = appendBytes(b, []byte(sf.Name))
	b = binary.BigEndian.AppendUint64(b, uint64(sf.CreatedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(sf.CreatedAt.Nanosecond()))
	b = appendBytes(b, []byte(sf.Backend))
	return sf.KDF.appendAAD(b)
}

func (k *Keyring) dataPath(name string) string {
	return filepath.Join(k.dir, name+secretFileExt)
}

// SealData stores data (at most MaxDataSize bytes) as the secret called
// name, sealed under the backend's passphrase (prompt(true) for the file
// backend, at least 8 characters) with this keyring's KDF, in
// <dir>/<name>.secret with mode 0600. The write is atomic and never
// replaces an existing secret: a second SealData of the same name fails
// with ErrDataExists, so what a worker generated once stays what it sends.
// Names follow the rules of key names.
func (k *Keyring) SealData(name string, data []byte) error {
	if err := validateName(name); err != nil {
		return err
	}
	if len(data) > MaxDataSize {
		return fmt.Errorf("keyring: data %q is %d bytes, at most %d", name, len(data), MaxDataSize)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := os.Lstat(k.dataPath(name)); err == nil {
		return fmt.Errorf("%w: %q", ErrDataExists, name)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("keyring: %w", err)
	}
	pass, err := k.passphrase(true)
	if err != nil {
		return err
	}
	if k.backend == BackendFile {
		if err := checkNewPassphrase(pass); err != nil {
			return err
		}
	}
	sf := &secretFile{
		Version:   secretFileVersion,
		Name:      name,
		CreatedAt: time.Now().UTC().Truncate(time.Second),
		Backend:   k.backend,
	}
	var key []byte
	if sf.KDF, key, err = k.derived.sealParams(pass, k.kdf); err != nil {
		return err
	}
	if sf.Nonce, sf.Ciphertext, err = sealWithKey(key, data, sf.aad()); err != nil {
		return err
	}
	raw, err := sf.encode()
	if err != nil {
		return err
	}
	return k.writeNewData(name, raw)
}

// OpenData decrypts the secret called name, asking the passphrase
// (prompt(false)) for the file backend. A missing secret is
// ErrDataNotFound; a wrong passphrase or an altered file is
// ErrWrongPassphrase. The caller should clear the returned bytes when done.
func (k *Keyring) OpenData(name string) ([]byte, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	sf, err := k.readData(name)
	if err != nil {
		return nil, err
	}
	pass, err := k.passphrase(false)
	if err != nil {
		return nil, err
	}
	data, err := openWithKey(k.derived.key(pass, sf.KDF), sf.Nonce, sf.Ciphertext, sf.aad())
	if errors.Is(err, errOpen) {
		return nil, fmt.Errorf("%w for data %q (if the passphrase is right, the file was altered)", ErrWrongPassphrase, name)
	}
	return data, err
}

// HasData reports whether a secret called name exists, without reading it.
func (k *Keyring) HasData(name string) (bool, error) {
	if err := validateName(name); err != nil {
		return false, err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	_, err := os.Lstat(k.dataPath(name))
	switch {
	case err == nil:
		return true, nil
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	}
	return false, fmt.Errorf("keyring: %w", err)
}

// ListData returns the names of the stored secrets, sorted. It asks no
// passphrase and reads no file.
func (k *Keyring) ListData() ([]string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: list: %w", err)
	}
	names := []string{}
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), secretFileExt)
		if !ok || e.IsDir() || validateName(stem) != nil {
			continue
		}
		names = append(names, stem)
	}
	slices.Sort(names)
	return names, nil
}

// DeleteData removes the secret called name; a missing one is
// ErrDataNotFound.
func (k *Keyring) DeleteData(name string) error {
	if err := validateName(name); err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	err := os.Remove(k.dataPath(name))
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %q", ErrDataNotFound, name)
	}
	if err != nil {
		return fmt.Errorf("keyring: delete data %q: %w", name, err)
	}
	syncDir(k.dir)
	return nil
}

// readData loads, checks and decodes the secret file of name: a regular
// file readable by its owner only, within the size bound, holding the name
// it is stored under and written by this keyring's backend.
func (k *Keyring) readData(name string) (*secretFile, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	path := k.dataPath(name)
	data, err := readPrivateFile(path, maxSecretFileSize, "data", ErrDataNotFound, ErrInvalidDataFile)
	if errors.Is(err, ErrDataNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrDataNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	sf, err := decodeSecretFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if sf.Name != name {
		return nil, fmt.Errorf("%w: %s holds data %q; data files cannot be renamed", ErrInvalidDataFile, path, sf.Name)
	}
	if sf.Backend != k.backend {
		return nil, fmt.Errorf("%w: data %q was written by the %q backend, this keyring uses %q; use --keyring-backend %s",
			ErrBackendMismatch, name, sf.Backend, k.backend, sf.Backend)
	}
	return sf, nil
}

// writeNewData writes raw as the secret file of name, which must not
// exist, like writeNew does for keys: a synced 0600 temporary file linked
// into place, so an existing secret is never overwritten.
func (k *Keyring) writeNewData(name string, raw []byte) error {
	tmp, err := os.CreateTemp(k.dir, tempFilePrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("keyring: create temporary file: %w", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath) // no-op once renamed
	if err := writeSync(tmp, raw); err != nil {
		return fmt.Errorf("keyring: write %s: %w", tmpPath, err)
	}
	final := k.dataPath(name)
	if err := os.Link(tmpPath, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %q", ErrDataExists, name)
		}
		if _, serr := os.Lstat(final); serr == nil {
			return fmt.Errorf("%w: %q", ErrDataExists, name)
		}
		if err := os.Rename(tmpPath, final); err != nil {
			return fmt.Errorf("keyring: install %s: %w", final, err)
		}
	}
	syncDir(k.dir)
	return nil
}
