package keyring

import (
	"crypto/ed25519"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/medchain/medchain/node/internal/strictjson"
)

const (
	keyFileVersion = 1
	keyFileExt     = ".key"
	// maxFileSize bounds what we read from a key file or an export.
	maxFileSize = 16 << 10
	// keyFileDomain separates key-file associated data from any other use.
	keyFileDomain = "medchain/keyring/keyfile"
)

// namePattern is the set of valid key names. A name never starts with '.',
// so it can neither escape the directory nor collide with temporary files.
var namePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// validateName reports whether name may name a key.
func validateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("%w %s: use 1 to 64 characters from a-z 0-9 . _ -, starting with a letter or digit",
			ErrInvalidName, quoteShort(name))
	}
	return nil
}

// keyFile is the on-disk form of one key, <name>.key:
//
//	{"version":1, "name":..., "address":"mc1...", "pubkey":base64,
//	 "created_at":RFC 3339, "backend":"file"|"test",
//	 "kdf":{"alg":"argon2id","time":..,"memory":KiB,"threads":..,"salt":base64},
//	 "nonce":base64, "ciphertext":base64}
//
// The ciphertext is the 32-byte ed25519 seed sealed with XChaCha20-Poly1305;
// every other field is bound as associated data (see aad).
type keyFile struct {
	Version    int       `json:"version"`
	Name       string    `json:"name"`
	Address    string    `json:"address"`
	PubKey     []byte    `json:"pubkey"`
	CreatedAt  time.Time `json:"created_at"`
	Backend    string    `json:"backend"`
	KDF        kdfParams `json:"kdf"`
	Nonce      []byte    `json:"nonce"`
	Ciphertext []byte    `json:"ciphertext"`
}

// decodeKeyFile parses and validates the bytes of a key file. It checks
// structure and consistency only (the address matches the public key, sizes,
// KDF bounds); it does not decrypt, and it does not know the file's name or
// the keyring's backend. It never panics, whatever data holds.
func decodeKeyFile(data []byte) (*keyFile, error) {
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("%w: %d bytes, larger than %d", ErrInvalidKeyFile, len(data), maxFileSize)
	}
	var kf keyFile
	if err := strictjson.Decode(data, &kf); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKeyFile, err)
	}
	if err := kf.validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidKeyFile, err)
	}
	return &kf, nil
}

func (kf *keyFile) validate() error {
	switch {
	case kf.Version != keyFileVersion:
		return fmt.Errorf("unsupported version %d (this build reads version %d)", kf.Version, keyFileVersion)
	case len(kf.PubKey) != ed25519.PublicKeySize:
		return fmt.Errorf("pubkey is %d bytes, want %d", len(kf.PubKey), ed25519.PublicKeySize)
	case kf.Address != AddressOf(kf.PubKey):
		return fmt.Errorf("address %s does not match the public key", quoteShort(kf.Address))
	case kf.CreatedAt.IsZero():
		return fmt.Errorf("created_at is missing")
	case kf.Backend != BackendFile && kf.Backend != BackendTest:
		return fmt.Errorf("backend is %s, want %q or %q", quoteShort(kf.Backend), BackendFile, BackendTest)
	case len(kf.Nonce) != nonceSize:
		return fmt.Errorf("nonce is %d bytes, want %d", len(kf.Nonce), nonceSize)
	case len(kf.Ciphertext) != ed25519.SeedSize+chacha20poly1305.Overhead:
		return fmt.Errorf("ciphertext is %d bytes, want %d", len(kf.Ciphertext), ed25519.SeedSize+chacha20poly1305.Overhead)
	}
	if err := validateName(kf.Name); err != nil {
		return err
	}
	return kf.KDF.validate()
}

// encode returns the file bytes of kf.
func (kf *keyFile) encode() ([]byte, error) {
	b, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("keyring: encode key file: %w", err)
	}
	return append(b, '\n'), nil
}

// aad is the associated data of the sealed seed: every clear field of the
// file, so that editing, swapping or renaming a file is detected on decrypt.
func (kf *keyFile) aad() []byte {
	var b []byte
	b = appendBytes(b, []byte(keyFileDomain))
	b = binary.BigEndian.AppendUint32(b, uint32(kf.Version))
	b = appendBytes(b, []byte(kf.Name))
	b = appendBytes(b, []byte(kf.Address))
	b = appendBytes(b, kf.PubKey)
	b = binary.BigEndian.AppendUint64(b, uint64(kf.CreatedAt.Unix()))
	b = binary.BigEndian.AppendUint32(b, uint32(kf.CreatedAt.Nanosecond()))
	b = appendBytes(b, []byte(kf.Backend))
	return kf.KDF.appendAAD(b)
}

// info returns the public information of kf.
func (kf *keyFile) info() Key {
	return Key{
		Name:      kf.Name,
		PubKey:    ed25519.PublicKey(append([]byte(nil), kf.PubKey...)),
		Address:   kf.Address,
		CreatedAt: kf.CreatedAt,
	}
}
