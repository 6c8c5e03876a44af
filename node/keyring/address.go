package keyring

import (
	"crypto/ed25519"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
)

// AddressPrefix starts every medchain account address.
const AddressPrefix = pb.AddressPrefix

// AddressSize is the number of bytes an address encodes.
const AddressSize = pb.AddressSize

// AddressOf returns the account address of an ed25519 public key (see
// pb.AddressOf, the one definition).
func AddressOf(pub ed25519.PublicKey) string { return pb.AddressOf(pub) }

// ParseAddress validates s as a canonical address; errors wrap
// ErrInvalidAddress.
func ParseAddress(s string) ([AddressSize]byte, error) {
	a, err := pb.ParseAddress(s)
	if err != nil {
		return a, fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	return a, nil
}

// quoteShort quotes s for an error message, cut so that hostile input
// cannot blow up the message.
func quoteShort(s string) string {
	const limit = 64
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}
