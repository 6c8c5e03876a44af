package pb

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
)

// AddressPrefix starts every medchain account address.
const AddressPrefix = "mc1"

// AddressSize is the number of bytes an address encodes.
const AddressSize = 20

// ErrInvalidAddress wraps every ParseAddress failure.
var ErrInvalidAddress = errors.New("invalid address")

// AddressOf derives an account address from its ed25519 public key:
// "mc1" followed by the lowercase hex of the first 20 bytes of SHA-256(pub).
// State keys and signatures rely on exactly this derivation; never change it.
func AddressOf(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return AddressPrefix + hex.EncodeToString(h[:AddressSize])
}

// ParseAddress validates s as a canonical address (the form AddressOf
// returns: "mc1", then exactly 40 lowercase hex digits) and returns its
// bytes. Errors wrap ErrInvalidAddress and say what was wrong.
func ParseAddress(s string) ([AddressSize]byte, error) {
	var out [AddressSize]byte
	if len(s) < len(AddressPrefix) || s[:len(AddressPrefix)] != AddressPrefix {
		return out, fmt.Errorf("%w %s: must start with %q", ErrInvalidAddress, quoteShort(s), AddressPrefix)
	}
	body := s[len(AddressPrefix):]
	if len(body) != 2*AddressSize {
		return out, fmt.Errorf("%w %s: want %d hex digits after %q, got %d characters",
			ErrInvalidAddress, quoteShort(s), 2*AddressSize, AddressPrefix, len(body))
	}
	for i := 0; i < len(body); i++ {
		switch c := body[i]; {
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			return out, fmt.Errorf("%w %s: hex digits must be lowercase", ErrInvalidAddress, quoteShort(s))
		default:
			return out, fmt.Errorf("%w %s: character %q at position %d is not a hex digit",
				ErrInvalidAddress, quoteShort(s), c, len(AddressPrefix)+i)
		}
	}
	_, _ = hex.Decode(out[:], []byte(body)) // every character was checked above
	return out, nil
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
