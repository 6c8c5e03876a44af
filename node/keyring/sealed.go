package keyring

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/crypto/argon2"
	"golang.org/x/crypto/chacha20poly1305"
)

const (
	kdfAlgArgon2id = "argon2id"
	saltSize       = 16
	aeadKeySize    = chacha20poly1305.KeySize
	nonceSize      = chacha20poly1305.NonceSizeX

	// Bounds on recorded KDF costs, so a hostile file cannot make us
	// allocate unbounded memory or spin forever (argon2 also panics below 1).
	minKDFTime    = 1
	maxKDFTime    = 16
	minKDFMemory  = 8 << 10 // KiB = 8 MiB
	maxKDFMemory  = 1 << 20 // KiB = 1 GiB
	minKDFThreads = 1
	maxKDFThreads = 16
)

// kdfParams is the Argon2id configuration recorded in every sealed file, so
// that decryption always uses what encryption used. Memory is in KiB, as
// argon2.IDKey takes it.
type kdfParams struct {
	Alg     string `json:"alg"`
	Time    uint32 `json:"time"`
	Memory  uint32 `json:"memory"`
	Threads uint8  `json:"threads"`
	Salt    []byte `json:"salt"`
}

var (
	// fileKDF is the cost of keys written by the file backend.
	fileKDF = kdfParams{Alg: kdfAlgArgon2id, Time: 3, Memory: 64 << 10, Threads: 2}
	// testKDF is the cheap cost of keys written by the test backend; its
	// passphrase is public anyway.
	testKDF = kdfParams{Alg: kdfAlgArgon2id, Time: 1, Memory: 8 << 10, Threads: 1}
)

// validate checks a decoded kdfParams; the result is safe to pass to argon2.
func (p kdfParams) validate() error {
	switch {
	case p.Alg != kdfAlgArgon2id:
		return fmt.Errorf("kdf.alg is %s, want %q", quoteShort(p.Alg), kdfAlgArgon2id)
	case p.Time < minKDFTime || p.Time > maxKDFTime:
		return fmt.Errorf("kdf.time %d is outside [%d, %d]", p.Time, minKDFTime, maxKDFTime)
	case p.Memory < minKDFMemory || p.Memory > maxKDFMemory:
		return fmt.Errorf("kdf.memory %d KiB is outside [%d, %d]", p.Memory, minKDFMemory, maxKDFMemory)
	case p.Threads < minKDFThreads || p.Threads > maxKDFThreads:
		return fmt.Errorf("kdf.threads %d is outside [%d, %d]", p.Threads, minKDFThreads, maxKDFThreads)
	case len(p.Salt) != saltSize:
		return fmt.Errorf("kdf.salt is %d bytes, want %d", len(p.Salt), saltSize)
	}
	return nil
}

// withFreshSalt returns a copy of the cost parameters p with a new random salt.
func (p kdfParams) withFreshSalt() (kdfParams, error) {
	p.Salt = make([]byte, saltSize)
	if _, err := rand.Read(p.Salt); err != nil {
		return kdfParams{}, fmt.Errorf("keyring: read random salt: %w", err)
	}
	return p, nil
}

// appendAAD appends p to the associated-data encoding b.
func (p kdfParams) appendAAD(b []byte) []byte {
	b = appendBytes(b, []byte(p.Alg))
	b = binary.BigEndian.AppendUint32(b, p.Time)
	b = binary.BigEndian.AppendUint32(b, p.Memory)
	b = append(b, p.Threads)
	return appendBytes(b, p.Salt)
}

// appendBytes appends a length-prefixed field, so that the concatenation of
// fields is unambiguous.
func appendBytes(b, field []byte) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(field)))
	return append(b, field...)
}

// deriveKey stretches pass with Argon2id under p, which must be valid.
// The caller clears the returned key.
func deriveKey(pass string, p kdfParams) []byte {
	pw := []byte(pass)
	defer clear(pw)
	return argon2.IDKey(pw, p.Salt, p.Time, p.Memory, p.Threads, aeadKeySize)
}

// seal encrypts plaintext under a key derived from pass and p, authenticating
// aad, and returns a fresh random nonce and the ciphertext.
func seal(pass string, p kdfParams, plaintext, aad []byte) (nonce, ciphertext []byte, err error) {
	key := deriveKey(pass, p)
	defer clear(key)
	return sealWithKey(key, plaintext, aad)
}

// sealWithKey encrypts plaintext under key with a fresh random nonce.
func sealWithKey(key, plaintext, aad []byte) (nonce, ciphertext []byte, err error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, nil, fmt.Errorf("keyring: init cipher: %w", err)
	}
	nonce = make([]byte, nonceSize)
	if _, err := rand.Read(nonce); err != nil {
		return nil, nil, fmt.Errorf("keyring: read random nonce: %w", err)
	}
	return nonce, aead.Seal(nil, nonce, plaintext, aad), nil
}

// errOpen is returned by open when authentication fails; callers turn it into
// ErrWrongPassphrase with context.
var errOpen = errors.New("authentication failed")

// open reverses seal. The caller clears the returned plaintext.
func open(pass string, p kdfParams, nonce, ciphertext, aad []byte) ([]byte, error) {
	key := deriveKey(pass, p)
	defer clear(key)
	return openWithKey(key, nonce, ciphertext, aad)
}

// openWithKey reverses sealWithKey.
func openWithKey(key, nonce, ciphertext, aad []byte) ([]byte, error) {
	aead, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("keyring: init cipher: %w", err)
	}
	plain, err := aead.Open(nil, nonce, ciphertext, aad)
	if err != nil {
		return nil, errOpen
	}
	return plain, nil
}
