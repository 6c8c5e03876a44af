package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Keyring backends, chosen by `--keyring-backend`.
const (
	// BackendFile encrypts every key under a passphrase asked from the user.
	BackendFile = "file"
	// BackendTest encrypts keys under the fixed, public passphrase
	// "medchain-test-keyring-INSECURE" with cheap KDF parameters. It is for
	// unattended scripts and tests only: its keys are effectively in clear.
	BackendTest = "test"
)

const (
	testPassphrase    = "medchain-test-keyring-INSECURE"
	minPassphraseLen  = 8
	dirPerm           = 0o700
	filePerm          = 0o600
	tempFilePrefix    = ".tmp-"
	insecureFileBits  = 0o077
	insecureDirWrites = 0o022
)

// PassphraseFunc obtains a passphrase, typically from the terminal. With
// confirm true the passphrase is new (add or import) and the function should
// ask twice and fail if the answers differ. The keyring calls it only when it
// must decrypt or encrypt a key, and only for the file backend.
type PassphraseFunc func(confirm bool) (string, error)

// Key is the public information of a stored key; it never holds a secret.
type Key struct {
	Name      string
	PubKey    ed25519.PublicKey
	Address   string
	CreatedAt time.Time
}

// Keyring is a directory of key files used by one backend. Its methods are
// safe for concurrent use within a process; across processes, creating a key
// never overwrites an existing one.
type Keyring struct {
	mu      sync.Mutex
	dir     string
	backend string
	prompt  PassphraseFunc
	kdf     kdfParams // cost of newly sealed keys and exports; tests lower it
	derived kdfCache  // Argon2id keys of this process (kdfcache.go)
}

// Open opens the keyring in dir for backend (BackendFile or BackendTest),
// creating dir with mode 0700 if needed. It refuses a dir writable by group
// or others. prompt is required for BackendFile and ignored for BackendTest.
func Open(dir, backend string, prompt PassphraseFunc) (*Keyring, error) {
	var kdf kdfParams
	switch backend {
	case BackendFile:
		if prompt == nil {
			return nil, errors.New("keyring: the file backend needs a passphrase prompt")
		}
		kdf = fileKDF
	case BackendTest:
		kdf = testKDF
	default:
		return nil, fmt.Errorf("keyring: unknown backend %s (want %q or %q)", quoteShort(backend), BackendFile, BackendTest)
	}
	if dir == "" {
		return nil, errors.New("keyring: directory is empty")
	}
	if err := os.MkdirAll(dir, dirPerm); err != nil {
		return nil, fmt.Errorf("keyring: create directory: %w", err)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("keyring: %s is not a directory", dir)
	}
	if checkPerms() && fi.Mode().Perm()&insecureDirWrites != 0 {
		return nil, fmt.Errorf("%w: keyring directory %s has mode %04o and is writable by group or others; run: chmod 700 %s",
			ErrInsecurePermissions, dir, fi.Mode().Perm(), dir)
	}
	return &Keyring{dir: dir, backend: backend, prompt: prompt, kdf: kdf}, nil
}

// Add creates a new random ed25519 key called name. For the file backend it
// asks a new passphrase (prompt(true)) of at least 8 characters. It fails
// with ErrInvalidName or ErrKeyExists before asking anything.
func (k *Keyring) Add(name string) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNew(name); err != nil {
		return Key{}, err
	}
	seed := make([]byte, ed25519.SeedSize)
	defer clear(seed)
	if _, err := io.ReadFull(rand.Reader, seed); err != nil {
		return Key{}, fmt.Errorf("keyring: generate key: %w", err)
	}
	return k.store(name, seed)
}

// ImportPrivate stores priv, a 64-byte ed25519 private key, as a new key
// called name, asking a new passphrase like Add. priv is not modified.
func (k *Keyring) ImportPrivate(name string, priv ed25519.PrivateKey) (Key, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Key{}, fmt.Errorf("keyring: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNew(name); err != nil {
		return Key{}, err
	}
	seed := priv.Seed()
	defer clear(seed)
	derived := ed25519.NewKeyFromSeed(seed)
	defer clear(derived)
	if !bytes.Equal(derived[ed25519.SeedSize:], priv[ed25519.SeedSize:]) {
		return Key{}, errors.New("keyring: malformed private key: its public half does not match its seed")
	}
	return k.store(name, seed)
}

// List returns the public information of every key, sorted by name. It asks
// no passphrase. This information is checked for consistency but is only
// authenticated when the key is decrypted (Signer, Export).
func (k *Keyring) List() ([]Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	entries, err := os.ReadDir(k.dir)
	if err != nil {
		return nil, fmt.Errorf("keyring: list: %w", err)
	}
	keys := []Key{}
	for _, e := range entries {
		stem, ok := strings.CutSuffix(e.Name(), keyFileExt)
		if !ok || e.IsDir() || validateName(stem) != nil {
			continue // temporary files and anything that is not ours
		}
		kf, err := k.read(stem)
		if err != nil {
			return nil, err
		}
		keys = append(keys, kf.info())
	}
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	return keys, nil
}

// Show returns the public information of the key called name, without
// asking a passphrase.
func (k *Keyring) Show(name string) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kf, err := k.read(name)
	if err != nil {
		return Key{}, err
	}
	return kf.info(), nil
}

// Delete removes the key called name. It asks no passphrase (the command
// asks for confirmation) but refuses a key it could not read, such as one of
// the other backend.
func (k *Keyring) Delete(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, err := k.read(name); err != nil {
		return err
	}
	if err := os.Remove(k.path(name)); err != nil {
		return fmt.Errorf("keyring: delete %q: %w", name, err)
	}
	syncDir(k.dir)
	return nil
}

// Signer decrypts the key called name, asking its passphrase (prompt(false))
// for the file backend. A wrong passphrase gives ErrWrongPassphrase. The
// caller should clear the returned key when done with it.
func (k *Keyring) Signer(name string) (ed25519.PrivateKey, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	kf, err := k.read(name)
	if err != nil {
		return nil, err
	}
	return k.decrypt(kf)
}

// Export decrypts the key called name (asking its passphrase like Signer) and
// returns it re-encrypted under exportPassphrase, which must have at least 8
// characters, as a JSON document for Import. The export uses the KDF cost of
// this keyring's backend.
func (k *Keyring) Export(name string, exportPassphrase string) ([]byte, error) {
	if err := checkNewPassphrase(exportPassphrase); err != nil {
		return nil, fmt.Errorf("export passphrase: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	kf, err := k.read(name)
	if err != nil {
		return nil, err
	}
	priv, err := k.decrypt(kf)
	if err != nil {
		return nil, err
	}
	defer clear(priv)
	ef := &exportFile{
		Format:  exportFormat,
		Version: exportVersion,
		Address: kf.Address,
		PubKey:  kf.PubKey,
	}
	if ef.KDF, err = k.kdf.withFreshSalt(); err != nil {
		return nil, err
	}
	seed := priv.Seed()
	defer clear(seed)
	if ef.Nonce, ef.Ciphertext, err = seal(exportPassphrase, ef.KDF, seed, ef.aad()); err != nil {
		return nil, err
	}
	return ef.encode()
}

// Import decrypts data produced by Export with exportPassphrase and stores
// the key as a new key called name, asking a new passphrase like Add. A wrong
// export passphrase gives ErrWrongPassphrase.
func (k *Keyring) Import(name string, data []byte, exportPassphrase string) (Key, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if err := k.checkNew(name); err != nil {
		return Key{}, err
	}
	ef, err := decodeExport(data)
	if err != nil {
		return Key{}, err
	}
	seed, err := open(exportPassphrase, ef.KDF, ef.Nonce, ef.Ciphertext, ef.aad())
	if errors.Is(err, errOpen) {
		return Key{}, fmt.Errorf("%w for the export (if the passphrase is right, the export was altered)", ErrWrongPassphrase)
	}
	if err != nil {
		return Key{}, err
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return Key{}, fmt.Errorf("%w: secret is %d bytes, want %d", ErrInvalidExport, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	if !bytes.Equal(priv[ed25519.SeedSize:], ef.PubKey) {
		return Key{}, fmt.Errorf("%w: secret does not match the public key", ErrInvalidExport)
	}
	return k.store(name, seed)
}

// checkNew fails unless name is valid and unused.
func (k *Keyring) checkNew(name string) error {
	if err := validateName(name); err != nil {
		return err
	}
	_, err := os.Lstat(k.path(name))
	switch {
	case err == nil:
		return fmt.Errorf("%w: %q", ErrKeyExists, name)
	case errors.Is(err, fs.ErrNotExist):
		return nil
	default:
		return fmt.Errorf("keyring: %w", err)
	}
}

// store seals seed under a new passphrase and writes it as the new key name.
func (k *Keyring) store(name string, seed []byte) (Key, error) {
	pass, err := k.passphrase(true)
	if err != nil {
		return Key{}, err
	}
	if k.backend == BackendFile {
		if err := checkNewPassphrase(pass); err != nil {
			return Key{}, err
		}
	}
	priv := ed25519.NewKeyFromSeed(seed)
	defer clear(priv)
	pub := append([]byte(nil), priv[ed25519.SeedSize:]...)
	kf := &keyFile{
		Version:   keyFileVersion,
		Name:      name,
		Address:   AddressOf(pub),
		PubKey:    pub,
		CreatedAt: time.Now().UTC().Truncate(time.Second),
		Backend:   k.backend,
	}
	var key []byte
	if kf.KDF, key, err = k.derived.sealParams(pass, k.kdf); err != nil {
		return Key{}, err
	}
	if kf.Nonce, kf.Ciphertext, err = sealWithKey(key, seed, kf.aad()); err != nil {
		return Key{}, err
	}
	data, err := kf.encode()
	if err != nil {
		return Key{}, err
	}
	if err := k.writeNew(name, data); err != nil {
		return Key{}, err
	}
	return kf.info(), nil
}

// decrypt asks the passphrase of kf and returns its private key.
func (k *Keyring) decrypt(kf *keyFile) (ed25519.PrivateKey, error) {
	pass, err := k.passphrase(false)
	if err != nil {
		return nil, err
	}
	seed, err := openWithKey(k.derived.key(pass, kf.KDF), kf.Nonce, kf.Ciphertext, kf.aad())
	if errors.Is(err, errOpen) {
		return nil, fmt.Errorf("%w for key %q (if the passphrase is right, the key file was altered)", ErrWrongPassphrase, kf.Name)
	}
	if err != nil {
		return nil, err
	}
	defer clear(seed)
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: key %q: secret is %d bytes, want %d", ErrInvalidKeyFile, kf.Name, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv[ed25519.SeedSize:], kf.PubKey) {
		clear(priv)
		return nil, fmt.Errorf("%w: key %q: secret does not match the public key", ErrInvalidKeyFile, kf.Name)
	}
	return priv, nil
}

// passphrase returns the passphrase of the backend: the fixed one for the
// test backend, the user's otherwise.
func (k *Keyring) passphrase(confirm bool) (string, error) {
	if k.backend == BackendTest {
		return testPassphrase, nil
	}
	pass, err := k.prompt(confirm)
	if err != nil {
		return "", fmt.Errorf("keyring: read passphrase: %w", err)
	}
	return pass, nil
}

// checkNewPassphrase enforces the minimum length of a passphrase that will
// protect a key.
func checkNewPassphrase(pass string) error {
	if utf8.RuneCountInString(pass) < minPassphraseLen {
		return ErrWeakPassphrase
	}
	return nil
}

func (k *Keyring) path(name string) string {
	return filepath.Join(k.dir, name+keyFileExt)
}

// read loads, checks and decodes the key file of name: it must be a regular
// file readable by its owner only, decode, carry the name it is stored
// under, and have been written by this keyring's backend.
func (k *Keyring) read(name string) (*keyFile, error) {
	if err := validateName(name); err != nil {
		return nil, err
	}
	path := k.path(name)
	data, err := readPrivateFile(path, maxFileSize, "key", ErrKeyNotFound, ErrInvalidKeyFile)
	if errors.Is(err, ErrKeyNotFound) {
		return nil, fmt.Errorf("%w: %q", ErrKeyNotFound, name)
	}
	if err != nil {
		return nil, err
	}
	kf, err := decodeKeyFile(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if kf.Name != name {
		return nil, fmt.Errorf("%w: %s holds key %q; key files cannot be renamed, export and import the key instead",
			ErrInvalidKeyFile, path, kf.Name)
	}
	if kf.Backend != k.backend {
		return nil, fmt.Errorf("%w: key %q was written by the %q backend, this keyring uses %q; use --keyring-backend %s",
			ErrBackendMismatch, name, kf.Backend, k.backend, kf.Backend)
	}
	return kf, nil
}

// writeNew writes data as the key file of name, which must not exist: to a
// 0600 temporary file, fsynced, then linked into place so that an existing
// key is never overwritten, even by another process.
func (k *Keyring) writeNew(name string, data []byte) error {
	tmp, err := os.CreateTemp(k.dir, tempFilePrefix+name+"-*")
	if err != nil {
		return fmt.Errorf("keyring: create temporary file: %w", err)
	}
	tmpPath := tmp.Name()
	defer os.Remove(tmpPath) // no-op once renamed
	if err := writeSync(tmp, data); err != nil {
		return fmt.Errorf("keyring: write %s: %w", tmpPath, err)
	}
	final := k.path(name)
	if err := os.Link(tmpPath, final); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w: %q", ErrKeyExists, name)
		}
		// The file system may not support hard links: fall back to a check
		// and a rename, which can only race with another process.
		if _, serr := os.Lstat(final); serr == nil {
			return fmt.Errorf("%w: %q", ErrKeyExists, name)
		}
		if err := os.Rename(tmpPath, final); err != nil {
			return fmt.Errorf("keyring: install %s: %w", final, err)
		}
	}
	syncDir(k.dir)
	return nil
}

// writeSync writes data to f with mode 0600, fsyncs and closes it.
func writeSync(f *os.File, data []byte) error {
	err := f.Chmod(filePerm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir makes a new or removed directory entry durable. It is best effort:
// some file systems cannot fsync a directory, and the file itself is synced.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	_ = d.Sync()
	_ = d.Close()
}

// checkPerms reports whether Unix permission bits are meaningful here.
func checkPerms() bool { return runtime.GOOS != "windows" && runtime.GOOS != "plan9" }

// readPrivateFile reads a keyring file: it must be a regular file (not a
// link), readable by its owner only, and at most limit bytes (more are not
// read). A missing file is notFound; anything else wrong wraps invalid or
// ErrInsecurePermissions and names the file. what ("key", "data") words
// the messages.
func readPrivateFile(path string, limit int64, what string, notFound, invalid error) ([]byte, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, notFound
	}
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", invalid, path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	defer f.Close()
	if fi, err = f.Stat(); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%w: %s is not a regular file", invalid, path)
	}
	if checkPerms() && fi.Mode().Perm()&insecureFileBits != 0 {
		return nil, fmt.Errorf("%w: %s file %s has mode %04o and is accessible to group or others; run: chmod 600 %s",
			ErrInsecurePermissions, what, path, fi.Mode().Perm(), path)
	}
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("keyring: read %s: %w", path, err)
	}
	return data, nil
}
