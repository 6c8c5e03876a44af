package pb

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
)

// AddressPrefix starts every medchain account address.
const AddressPrefix = "mc1"

// AddressOf derives an account address from its ed25519 public key:
// "mc1" followed by the lowercase hex of the first 20 bytes of SHA-256(pub).
func AddressOf(pub ed25519.PublicKey) string {
	h := sha256.Sum256(pub)
	return AddressPrefix + hex.EncodeToString(h[:20])
}

// ParseAddress checks that s is a well-formed address and returns its bytes.
func ParseAddress(s string) ([20]byte, error) {
	var out [20]byte
	if !strings.HasPrefix(s, AddressPrefix) {
		return out, fmt.Errorf("address %q must start with %q", s, AddressPrefix)
	}
	rest := s[len(AddressPrefix):]
	if len(rest) != 40 {
		return out, fmt.Errorf("address %q must have 40 hex digits after %q, has %d", s, AddressPrefix, len(rest))
	}
	if strings.ToLower(rest) != rest {
		return out, fmt.Errorf("address %q must be lowercase", s)
	}
	if _, err := hex.Decode(out[:], []byte(rest)); err != nil {
		return out, fmt.Errorf("address %q is not hex: %v", s, err)
	}
	return out, nil
}
