package he

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/utils/sampling"
)

// CRPSeedSize is the length of a CRP seed.
const CRPSeedSize = 32

// CRPSeed returns the public seed from which every node derives the common
// random polynomial of the collective-key ceremony for key epoch epoch on
// chain chainID. It is deterministic, and distinct for every (chain, epoch)
// pair, so no ceremony ever reuses another's polynomial.
func CRPSeed(chainID string, epoch uint64) []byte {
	h := sha256.New()
	h.Write([]byte("medchain/he/ckg-crp/v1\x00"))
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(chainID)))
	h.Write(n[:])
	h.Write([]byte(chainID))
	binary.BigEndian.PutUint64(n[:], epoch)
	h.Write(n[:])
	return h.Sum(nil)
}

// crp expands a seed with Lattigo's keyed PRNG (BLAKE2b XOF) into the
// common random polynomial. Deterministic.
func (p *Params) crp(seed []byte) (multiparty.PublicKeyGenCRP, error) {
	if len(seed) != CRPSeedSize {
		return multiparty.PublicKeyGenCRP{}, fmt.Errorf("he: CRP seed is %d bytes, want %d", len(seed), CRPSeedSize)
	}
	prng, err := sampling.NewKeyedPRNG(seed)
	if err != nil {
		return multiparty.PublicKeyGenCRP{}, fmt.Errorf("he: CRP seed: %w", err)
	}
	return multiparty.NewPublicKeyGenProtocol(p.bgv).SampleCRP(prng), nil
}

// SecretShare is a member's own share of the collective secret key for one
// key epoch. It never leaves the member's node: the node stores it
// encrypted at rest (MarshalBinary / Params.UnmarshalSecretShare).
type SecretShare struct {
	p  *Params
	sk *rlwe.SecretKey
}

// GenSecretShare samples a fresh secret-key share (ternary, from
// crypto/rand). Randomised: node workers only, never FinalizeBlock.
func (p *Params) GenSecretShare() (*SecretShare, error) {
	return &SecretShare{p: p, sk: rlwe.NewKeyGenerator(p.bgv).GenSecretKeyNew()}, nil
}

// MarshalBinary serialises the share for the node's encrypted store.
func (s *SecretShare) MarshalBinary() ([]byte, error) {
	return s.p.encode(kindSecretShare, nil, s.sk)
}

// UnmarshalSecretShare validates and decodes a share stored by
// SecretShare.MarshalBinary.
func (p *Params) UnmarshalSecretShare(b []byte) (*SecretShare, error) {
	sk := new(rlwe.SecretKey)
	if err := p.decode(kindSecretShare, b, sk); err != nil {
		return nil, err
	}
	return &SecretShare{p: p, sk: sk}, nil
}

func (p *Params) checkSecretShare(s *SecretShare) error {
	if s == nil || s.sk == nil {
		return errors.New("he: nil secret share")
	}
	if s.p != p && !s.p.bgv.Equal(&p.bgv) {
		return errors.New("he: secret share belongs to other parameters")
	}
	return nil
}

// GenPublicKeyShare returns the member's collective-key share
// −a·s_i + e_i for the common random polynomial a derived from seed (see
// CRPSeed). Randomised (fresh e_i): node workers only. Generate it once per
// secret share and seed, store it, and resend the same bytes if a tx must
// be resent: two different shares for the same polynomial and secret are a
// protocol retry, which Lattigo's security notes rule out.
func (p *Params) GenPublicKeyShare(sk *SecretShare, seed []byte) ([]byte, error) {
	if err := p.checkSecretShare(sk); err != nil {
		return nil, err
	}
	crp, err := p.crp(seed)
	if err != nil {
		return nil, err
	}
	ckg := multiparty.NewPublicKeyGenProtocol(p.bgv)
	share := ckg.AllocateShare()
	ckg.GenShare(sk.sk, crp, &share)
	return p.encode(kindPublicKeyShare, nil, share)
}

// ValidatePublicKeyShare checks that b is a canonical collective-key share
// for p: exact length, tag and structure, every coefficient below its
// modulus. Contracts call it before storing a share from a tx.
func (p *Params) ValidatePublicKeyShare(b []byte) error {
	_, _, err := p.split(kindPublicKeyShare, b)
	return err
}

// AggregatePublicKey sums the members' collective-key shares and returns
// the collective public key (Σ shares, a). Deterministic: the contract runs
// it in FinalizeBlock once all N shares are in. The order of shares does
// not change the result. It validates every share itself, and refuses two
// byte-identical shares (a member replaying another's share).
func (p *Params) AggregatePublicKey(seed []byte, shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, errors.New("he: no collective-key shares")
	}
	crp, err := p.crp(seed)
	if err != nil {
		return nil, err
	}
	ckg := multiparty.NewPublicKeyGenProtocol(p.bgv)
	var sum multiparty.PublicKeyGenShare
	for i, b := range shares {
		for j := range i {
			if bytes.Equal(shares[j], b) {
				return nil, fmt.Errorf("he: collective-key shares %d and %d are identical", j, i)
			}
		}
		var s multiparty.PublicKeyGenShare
		if err := p.decode(kindPublicKeyShare, b, &s); err != nil {
			return nil, fmt.Errorf("share %d: %w", i, err)
		}
		if i == 0 {
			sum = s
		} else {
			ckg.AggregateShares(sum, s, &sum)
		}
	}
	pk := rlwe.NewPublicKey(p.bgv)
	ckg.GenPublicKey(sum, crp, pk)
	return p.encode(kindPublicKey, nil, pk)
}

// ValidatePublicKey checks that b is a canonical collective public key.
func (p *Params) ValidatePublicKey(b []byte) error {
	_, _, err := p.split(kindPublicKey, b)
	return err
}
