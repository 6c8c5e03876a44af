package recordcrypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
)

const (
	// KeySize is the size of a data key: AES-256.
	KeySize = 32
	// NonceSize is the size of the random GCM nonce that prefixes a record
	// ciphertext.
	NonceSize = 12
	// TagSize is the size of the GCM authentication tag.
	TagSize = 16
	// RecordOverhead is how much longer a record ciphertext is than its
	// plaintext: nonce || AES-256-GCM(plaintext) || tag.
	RecordOverhead = NonceSize + TagSize
	// MaxRecordIDSize bounds a record id, which is bound into every
	// ciphertext and sealed key as associated data.
	MaxRecordIDSize = 256

	// recordDomain prefixes the associated data of a record ciphertext, so a
	// record ciphertext never authenticates under any other use of the key.
	// The record id follows it; the domain has a fixed length, so the
	// concatenation is unambiguous.
	recordDomain = "medchain/record/v1\x00"
)

// NewDataKey returns a fresh random 256-bit data key from crypto/rand. Use
// one data key per record, never twice.
func NewDataKey() ([KeySize]byte, error) {
	var k [KeySize]byte
	if _, err := rand.Read(k[:]); err != nil {
		return k, fmt.Errorf("recordcrypto: new data key: %w", err)
	}
	return k, nil
}

func checkRecordID(recordID []byte) error {
	if len(recordID) == 0 {
		return fmt.Errorf("recordcrypto: %w: empty", ErrRecordID)
	}
	if len(recordID) > MaxRecordIDSize {
		return fmt.Errorf("recordcrypto: %w: %d bytes, more than %d", ErrRecordID, len(recordID), MaxRecordIDSize)
	}
	return nil
}

func recordAAD(recordID []byte) []byte {
	aad := make([]byte, 0, len(recordDomain)+len(recordID))
	aad = append(aad, recordDomain...)
	return append(aad, recordID...)
}

func newGCM(key [KeySize]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		// Invariant: a 32-byte key is always a valid AES-256 key.
		panic("recordcrypto: aes.NewCipher rejected a 32-byte key: " + err.Error())
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		// Invariant: AES has a 16-byte block, which NewGCM always accepts.
		panic("recordcrypto: cipher.NewGCM rejected AES: " + err.Error())
	}
	return gcm
}

// EncryptRecord encrypts a record's plaintext (its FHIR JSON) under its data
// key with AES-256-GCM and returns nonce || ciphertext || tag, RecordOverhead
// bytes longer than plaintext. The nonce is 96 random bits; the associated
// data is a domain string followed by recordID, so the ciphertext only
// decrypts under this record id. recordID must be 1 to MaxRecordIDSize
// bytes.
func EncryptRecord(key [KeySize]byte, recordID []byte, plaintext []byte) ([]byte, error) {
	if err := checkRecordID(recordID); err != nil {
		return nil, err
	}
	out := make([]byte, NonceSize, NonceSize+len(plaintext)+TagSize)
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("recordcrypto: nonce: %w", err)
	}
	return newGCM(key).Seal(out, out[:NonceSize], plaintext, recordAAD(recordID)), nil
}

// DecryptRecord reverses EncryptRecord. It returns ErrAuthentication when
// the key or the record id is not the one the record was encrypted with, or
// any byte of ciphertext was altered, and ErrMalformed when ciphertext is
// shorter than RecordOverhead. It never panics, whatever its input.
func DecryptRecord(key [KeySize]byte, recordID []byte, ciphertext []byte) ([]byte, error) {
	if err := checkRecordID(recordID); err != nil {
		return nil, err
	}
	if len(ciphertext) < RecordOverhead {
		return nil, fmt.Errorf("recordcrypto: record ciphertext %w: %d bytes, shorter than the %d-byte minimum", ErrMalformed, len(ciphertext), RecordOverhead)
	}
	pt, err := newGCM(key).Open(nil, ciphertext[:NonceSize], ciphertext[NonceSize:], recordAAD(recordID))
	if err != nil {
		return nil, fmt.Errorf("recordcrypto: record %q: %w (wrong data key, wrong record id, or altered ciphertext)", recordID, ErrAuthentication)
	}
	return pt, nil
}

// ContentHash is the hash a record registers on chain: SHA-256 of its
// ciphertext (never of the plaintext, which would let anyone test guesses of
// a record's content against the chain).
func ContentHash(ciphertext []byte) [32]byte {
	return sha256.Sum256(ciphertext)
}
