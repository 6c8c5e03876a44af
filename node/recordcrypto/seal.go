package recordcrypto

import (
	"crypto/ecdh"
	"crypto/hpke"
	"fmt"
)

// Sealing a data key to a recipient uses HPKE (RFC 9180) in base mode, from
// the standard library's crypto/hpke, with the ciphersuite
//
//	KEM  DHKEM(X25519, HKDF-SHA256)  (0x0020)
//	KDF  HKDF-SHA256                 (0x0001)
//	AEAD AES-256-GCM                 (0x0002)
//
// and info = sealDomain || recipient public key (32 bytes) || record id, so a
// sealed key opens only for its record id. (DHKEM already binds the
// recipient's public key into the shared secret; repeating it in info costs
// nothing and keeps the binding explicit.) The sealed form is HPKE's
// single-shot output, enc (32 bytes) || AES-256-GCM(data key) || tag:
// SealedKeySize bytes.

const (
	// PublicKeySize and PrivateKeySize are the sizes of X25519 keys.
	PublicKeySize  = 32
	PrivateKeySize = 32
	// SealedKeySize is the size of a data key sealed by SealKey.
	SealedKeySize = 32 + KeySize + TagSize

	sealDomain = "medchain/record-key/v1\x00"
)

var (
	sealKEM  = hpke.DHKEM(ecdh.X25519())
	sealKDF  = hpke.HKDFSHA256()
	sealAEAD = hpke.AES256GCM()
)

// SealKeyPair returns the X25519 key pair of a 32-byte seed: the private key
// is the seed itself (X25519 clamps it when used) and the public key is
// X25519(seed, basepoint), the same as
// curve25519.X25519(seed, curve25519.Basepoint). A medchain account's or
// hospital's sealing seed is the 32-byte seed of its keyring entry, so
// node.SealPublicKey derives the same public key. seed must be secret and
// uniformly random.
func SealKeyPair(seed [PrivateKeySize]byte) (priv, pub [32]byte) {
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	if err != nil {
		// Invariant: X25519 accepts every 32-byte private key.
		panic("recordcrypto: ecdh.X25519 rejected a 32-byte key: " + err.Error())
	}
	copy(pub[:], k.PublicKey().Bytes())
	return seed, pub
}

func sealInfo(recordID []byte, recipientPub []byte) []byte {
	info := make([]byte, 0, len(sealDomain)+PublicKeySize+len(recordID))
	info = append(info, sealDomain...)
	info = append(info, recipientPub...)
	return append(info, recordID...)
}

// SealKey seals a record's data key to a recipient's X25519 public key
// (patient, custodian or doctor) for recordID, and returns SealedKeySize
// bytes. Sealing is randomised: two seals of one key differ. It fails on a
// malformed record id and on a public key of low order (whose shared secret
// would be zero).
func SealKey(key [KeySize]byte, recordID []byte, recipientPub [PublicKeySize]byte) ([]byte, error) {
	if err := checkRecordID(recordID); err != nil {
		return nil, err
	}
	pk, err := sealKEM.NewPublicKey(recipientPub[:])
	if err != nil {
		return nil, fmt.Errorf("recordcrypto: recipient public key: %w", err)
	}
	sealed, err := hpke.Seal(pk, sealKDF, sealAEAD, sealInfo(recordID, recipientPub[:]), key[:])
	if err != nil {
		return nil, fmt.Errorf("recordcrypto: seal data key to %x: %w", recipientPub, err)
	}
	if len(sealed) != SealedKeySize {
		// Invariant: the ciphersuite fixes the output size.
		panic(fmt.Sprintf("recordcrypto: HPKE output is %d bytes, want %d", len(sealed), SealedKeySize))
	}
	return sealed, nil
}

// OpenKey opens a data key sealed by SealKey with the recipient's X25519
// private key. It returns ErrMalformed if sealed is not SealedKeySize bytes
// and ErrAuthentication if it was sealed to someone else, for another record
// id, or altered. It never panics, whatever its input.
func OpenKey(sealed []byte, recordID []byte, recipientPriv [PrivateKeySize]byte) ([KeySize]byte, error) {
	var key [KeySize]byte
	if err := checkRecordID(recordID); err != nil {
		return key, err
	}
	if len(sealed) != SealedKeySize {
		return key, fmt.Errorf("recordcrypto: sealed key %w: %d bytes, want %d", ErrMalformed, len(sealed), SealedKeySize)
	}
	sk, err := sealKEM.NewPrivateKey(recipientPriv[:])
	if err != nil {
		return key, fmt.Errorf("recordcrypto: recipient private key: %w", err)
	}
	pt, err := hpke.Open(sk, sealKDF, sealAEAD, sealInfo(recordID, sk.PublicKey().Bytes()), sealed)
	if err != nil || len(pt) != KeySize {
		return key, fmt.Errorf("recordcrypto: sealed key for record %q: %w (sealed to another key, for another record, or altered)", recordID, ErrAuthentication)
	}
	copy(key[:], pt)
	return key, nil
}
