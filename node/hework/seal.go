package hework

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
)

// sealKeyPair returns the X25519 key pair of a seal key entry: its
// 32-byte ed25519 seed is the X25519 private scalar (node.SealPublicKey
// derives the same public key for genesis).
func sealKeyPair(seal ed25519.PrivateKey) (priv, pub [32]byte, err error) {
	if len(seal) != ed25519.PrivateKeySize {
		return priv, pub, errors.New("hework: seal key is not an ed25519 private key")
	}
	copy(priv[:], seal.Seed())
	p, err := curve25519.X25519(priv[:], curve25519.Basepoint)
	if err != nil {
		return priv, pub, fmt.Errorf("hework: seal key: %w", err)
	}
	copy(pub[:], p)
	return priv, pub, nil
}

// sealTo seals msg to an X25519 public key (NaCl anonymous box).
func sealTo(recipient []byte, msg []byte) ([]byte, error) {
	if len(recipient) != 32 {
		return nil, fmt.Errorf("seal key is %d bytes, want 32", len(recipient))
	}
	var pk [32]byte
	copy(pk[:], recipient)
	return box.SealAnonymous(nil, msg, &pk, rand.Reader)
}

// openSealed opens a box sealed to this worker's seal key.
func (w *Worker) openSealed(sealed []byte) ([]byte, error) {
	out, ok := box.OpenAnonymous(nil, sealed, &w.sealPub, &w.sealPriv)
	if !ok {
		return nil, errors.New("the sealed share does not open with this home's seal key")
	}
	return out, nil
}
