package sharing

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
)

// SealSuffix names a person's sealing key in the keyring: NAME+SealSuffix
// holds the 32-byte seed used as the X25519 private key data keys are
// sealed to. It is never used to sign.
const SealSuffix = "-seal"

// maxNameLen keeps NAME+SealSuffix within the keyring's 64-character names.
const maxNameLen = 64 - len(SealSuffix)

// Identity is one person (doctor or patient): a signing key and a sealing
// key pair. It holds secrets: call Wipe when done.
type Identity struct {
	Name     string
	Sign     ed25519.PrivateKey
	SealPriv [32]byte
	SealPub  [32]byte
}

// Address is the identity's account address.
func (id *Identity) Address() string { return pb.AddressOf(id.Public()) }

// Public is the identity's signing public key.
func (id *Identity) Public() ed25519.PublicKey { return id.Sign.Public().(ed25519.PublicKey) }

// Wipe clears the identity's secret keys.
func (id *Identity) Wipe() {
	clear(id.Sign)
	clear(id.SealPriv[:])
}

func checkName(name string) error {
	if name == "" {
		return errors.New("key name is empty; give the person's key name (e.g. --key dr-lee)")
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("key name is %d characters; a person's key name has at most %d (its seal key adds %q)", len(name), maxNameLen, SealSuffix)
	}
	return nil
}

// NewIdentity creates a person's two keys in kr: NAME (signing) and
// NAME-seal (sealing), from fresh random seeds. It refuses, creating
// nothing, if either name is taken or invalid.
func NewIdentity(kr *keyring.Keyring, name string) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	for _, n := range []string{name, name + SealSuffix} {
		if _, err := kr.Show(n); err == nil {
			return nil, fmt.Errorf("key %q: %w; load it, or choose another name", n, keyring.ErrKeyExists)
		} else if !errors.Is(err, keyring.ErrKeyNotFound) {
			return nil, err
		}
	}
	var signSeed, sealSeed [ed25519.SeedSize]byte
	defer clear(signSeed[:])
	defer clear(sealSeed[:])
	if _, err := rand.Read(signSeed[:]); err != nil {
		return nil, fmt.Errorf("sharing: new key: %w", err)
	}
	if _, err := rand.Read(sealSeed[:]); err != nil {
		return nil, fmt.Errorf("sharing: new key: %w", err)
	}
	sign := ed25519.NewKeyFromSeed(signSeed[:])
	sealKey := ed25519.NewKeyFromSeed(sealSeed[:])
	defer clear(sealKey)
	if _, err := kr.ImportPrivate(name, sign); err != nil {
		clear(sign)
		return nil, err
	}
	if _, err := kr.ImportPrivate(name+SealSuffix, sealKey); err != nil {
		clear(sign)
		if derr := kr.Delete(name); derr != nil {
			return nil, fmt.Errorf("%w (and removing the half-made key %q failed: %v)", err, name, derr)
		}
		return nil, err
	}
	id := &Identity{Name: name, Sign: sign}
	id.SealPriv, id.SealPub = recordcrypto.SealKeyPair(sealSeed)
	return id, nil
}

// LoadIdentity unlocks a person's keys NAME and NAME-seal from kr.
func LoadIdentity(kr *keyring.Keyring, name string) (*Identity, error) {
	if err := checkName(name); err != nil {
		return nil, err
	}
	sign, err := kr.Signer(name)
	if err != nil {
		return nil, err
	}
	sealKey, err := kr.Signer(name + SealSuffix)
	if err != nil {
		clear(sign)
		if errors.Is(err, keyring.ErrKeyNotFound) {
			return nil, fmt.Errorf("%w: %q has no seal key %q; people's keys are made together (medchain doctor enrol / patient enrol)", err, name, name+SealSuffix)
		}
		return nil, err
	}
	defer clear(sealKey)
	var seed [ed25519.SeedSize]byte
	copy(seed[:], sealKey.Seed())
	defer clear(seed[:])
	id := &Identity{Name: name, Sign: sign}
	id.SealPriv, id.SealPub = recordcrypto.SealKeyPair(seed)
	return id, nil
}

// LoadOrCreateIdentity loads NAME, or creates it when neither NAME nor
// NAME-seal exists; created reports which.
func LoadOrCreateIdentity(kr *keyring.Keyring, name string) (id *Identity, created bool, err error) {
	if err := checkName(name); err != nil {
		return nil, false, err
	}
	_, err = kr.Show(name)
	switch {
	case err == nil:
		id, err = LoadIdentity(kr, name)
		return id, false, err
	case errors.Is(err, keyring.ErrKeyNotFound):
		id, err = NewIdentity(kr, name)
		return id, err == nil, err
	}
	return nil, false, err
}
