package store

import (
	"bytes"
	"fmt"

	ics23 "github.com/cosmos/ics23/go"
)

// VerifyMembership checks that proof shows key = value under appHash (the
// app_hash of the header after the queried height). Clients and tests call
// it; it needs no Store. It returns nil or an error wrapping
// ErrInvalidProof that says what did not match.
func VerifyMembership(appHash []byte, proof *ics23.CommitmentProof, key, value []byte) (err error) {
	if err := checkProofArgs(appHash, proof, key); err != nil {
		return err
	}
	if value == nil {
		return fmt.Errorf("%w: nil value", ErrInvalidProof)
	}
	defer recoverProof(&err)
	p := ics23.Decompress(proof)
	if ex := p.GetExist(); ex != nil {
		if !bytes.Equal(ex.Key, key) {
			return fmt.Errorf("%w: proof is for key %X, not %X", ErrInvalidProof, ex.Key, key)
		}
		if err := ex.Verify(ics23.IavlSpec, appHash, key, value); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidProof, err)
		}
		return nil
	}
	if !ics23.VerifyMembership(ics23.IavlSpec, appHash, p, key, value) {
		return fmt.Errorf("%w: no existence proof of key %X verifies", ErrInvalidProof, key)
	}
	return nil
}

// VerifyNonMembership checks that proof shows key is absent under appHash.
// Clients and tests call it; it needs no Store.
func VerifyNonMembership(appHash []byte, proof *ics23.CommitmentProof, key []byte) (err error) {
	if err := checkProofArgs(appHash, proof, key); err != nil {
		return err
	}
	defer recoverProof(&err)
	p := ics23.Decompress(proof)
	if nx := p.GetNonexist(); nx != nil {
		if err := nx.Verify(ics23.IavlSpec, appHash, key); err != nil {
			return fmt.Errorf("%w: %w", ErrInvalidProof, err)
		}
		return nil
	}
	if !ics23.VerifyNonMembership(ics23.IavlSpec, appHash, p, key) {
		return fmt.Errorf("%w: no non-existence proof of key %X verifies", ErrInvalidProof, key)
	}
	return nil
}

func checkProofArgs(appHash []byte, proof *ics23.CommitmentProof, key []byte) error {
	switch {
	case len(appHash) == 0:
		return fmt.Errorf("%w: empty app hash", ErrInvalidProof)
	case proof == nil || proof.Proof == nil:
		return fmt.Errorf("%w: no proof", ErrInvalidProof)
	case len(key) == 0:
		return fmt.Errorf("%w: empty key", ErrInvalidProof)
	}
	return nil
}

// recoverProof turns a panic inside ics23 on a malformed, untrusted proof
// into an error: a client must never crash on what a peer sent it.
func recoverProof(err *error) {
	if r := recover(); r != nil {
		*err = fmt.Errorf("%w: malformed proof: %v", ErrInvalidProof, r)
	}
}
