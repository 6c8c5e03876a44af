package report

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/medchain/medchain/he"
)

// KeyKind names the format of a sealed researcher key. Version 1 was the
// plaintext JSON file `research keygen --out` used to write.
const KeyKind = "medchain-researcher-he-key/v2"

// maxKeyData bounds an encoded researcher key (a LogN 15 key is about
// 3 MiB in base64; the keyring seals at most 8 MiB).
const maxKeyData = 8 << 20

// ErrBadKey wraps every refusal of DecodeResearcherKey.
var ErrBadKey = errors.New("not a researcher HE key")

// ResearcherKey is a researcher's HE key pair: the result of a query is
// switched to Public, and only Secret decrypts it. It is kept sealed in
// the keyring (keyring.SealData under KeyDataName), never in clear on disk.
type ResearcherKey struct {
	// Params is the HE parameter set the pair was made for; it must be
	// the alliance's.
	Params he.ParamsLiteral `json:"params"`
	Public []byte           `json:"public_key"`
	Secret []byte           `json:"secret_key"`
}

type keyData struct {
	Kind string `json:"kind"`
	ResearcherKey
}

// KeyDataName is the keyring data name under which the researcher key
// called name is sealed.
func KeyDataName(name string) string { return name + ".he" }

// NewResearcherKey makes a fresh key pair for the parameters p.
func NewResearcherKey(p *he.Params) (*ResearcherKey, error) {
	priv, pub, err := p.GenResearcherKey()
	if err != nil {
		return nil, err
	}
	return &ResearcherKey{Params: p.Literal(), Public: pub, Secret: priv}, nil
}

// Encode returns the bytes to seal in the keyring. They hold the secret
// key: the caller clears them once sealed.
func (k *ResearcherKey) Encode() ([]byte, error) {
	return json.Marshal(keyData{Kind: KeyKind, ResearcherKey: *k})
}

// DecodeResearcherKey parses what Encode wrote. It refuses unknown fields,
// trailing data, another kind and empty keys; it never panics.
func DecodeResearcherKey(data []byte) (*ResearcherKey, error) {
	if len(data) > maxKeyData {
		return nil, fmt.Errorf("%w: %d bytes, at most %d", ErrBadKey, len(data), maxKeyData)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var kd keyData
	if err := dec.Decode(&kd); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: data after the key", ErrBadKey)
	}
	switch {
	case kd.Kind != KeyKind:
		return nil, fmt.Errorf("%w: kind %.40q, want %q", ErrBadKey, kd.Kind, KeyKind)
	case kd.Params.LogN < 12 || kd.Params.LogN > 15 || len(kd.Params.Q) == 0 || len(kd.Params.Q) > 16 || kd.Params.T == 0:
		return nil, fmt.Errorf("%w: its HE parameters are incomplete", ErrBadKey)
	case len(kd.Public) == 0 || len(kd.Secret) == 0:
		return nil, fmt.Errorf("%w: the public or the secret key is missing", ErrBadKey)
	}
	k := kd.ResearcherKey
	return &k, nil
}

// PublicHash is the SHA-256 of the public key: the researcher_key_hash a
// query submitted with it carries on chain.
func (k *ResearcherKey) PublicHash() [32]byte { return sha256.Sum256(k.Public) }

// Check reports whether k was made for the alliance's parameters p and
// its public key is canonical under them.
func (k *ResearcherKey) Check(p *he.Params) error {
	lit := p.Literal()
	if k.Params.LogN != lit.LogN || k.Params.T != lit.T || !slices.Equal(k.Params.Q, lit.Q) {
		return fmt.Errorf("this researcher HE key was made for other HE parameters (LogN %d, %d primes) than the alliance's (LogN %d, %d primes): make a new one with `medchain research keygen --name NEW --node URL`",
			k.Params.LogN, len(k.Params.Q), lit.LogN, len(lit.Q))
	}
	if err := p.ValidateResearcherKey(k.Public); err != nil {
		return fmt.Errorf("this researcher HE key's public half is damaged: %w", err)
	}
	return nil
}

// Clear overwrites the secret key in memory.
func (k *ResearcherKey) Clear() { clear(k.Secret) }
