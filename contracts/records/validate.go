package records

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"unicode"

	"golang.org/x/crypto/curve25519"

	"github.com/medchain/medchain/contracts/pb"
)

// Limits of this contract's payloads.
const (
	// SealedKeySize is the size of a sealed data key: HPKE (X25519,
	// HKDF-SHA256, AES-256-GCM) of a 32-byte key is enc(32) + key(32) +
	// tag(16), as node/recordcrypto seals it.
	SealedKeySize = 80
	// SealPubKeySize is the size of an X25519 public key.
	SealPubKeySize = 32
	// MaxResourceTypes bounds the resource types of a record or a scope.
	MaxResourceTypes = 16
	// MaxResourceTypeBytes bounds one resource type name.
	MaxResourceTypeBytes = 64
	// MaxGrantRecords bounds the record ids and the sealed keys of a grant.
	MaxGrantRecords = 256
	// MaxForwardDepth bounds a chain of forwards below a patient's grant,
	// so the access check walks at most MaxForwardDepth+1 grants.
	MaxForwardDepth = 8
	// MaxReasonBytes bounds a break-glass reason.
	MaxReasonBytes = 512
	// MaxNoteBytes bounds a review note.
	MaxNoteBytes = 512
	// MaxURLBytes bounds a gateway URL.
	MaxURLBytes = 256
	// MaxRecordSize bounds a record's ciphertext size.
	MaxRecordSize = 1 << 30
)

// ParseID parses a pseudonym or a record id: exactly 64 lowercase hex
// digits (32 bytes). what names the field in the error.
func ParseID(what, s string) ([32]byte, error) {
	var out [32]byte
	if len(s) != 64 {
		return out, fmt.Errorf("%s %s: want 64 lowercase hex digits, got %d characters", what, short(s), len(s))
	}
	for i := 0; i < 64; i += 2 {
		hi, ok1 := hexDigit(s[i])
		lo, ok2 := hexDigit(s[i+1])
		if !ok1 || !ok2 {
			return out, fmt.Errorf("%s %s: not 64 lowercase hex digits (position %d)", what, short(s), i)
		}
		out[i/2] = hi<<4 | lo
	}
	return out, nil
}

func hexDigit(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// short quotes s for an error message, cut so hostile input cannot blow it up.
func short(s string) string {
	const limit = 72
	if len(s) > limit {
		return fmt.Sprintf("%q...", s[:limit])
	}
	return fmt.Sprintf("%q", s)
}

// checkResourceTypes: 1 to MaxResourceTypes FHIR resource type names
// (an upper-case letter, then letters), strictly ascending.
func checkResourceTypes(what string, ts []string) error {
	if len(ts) == 0 || len(ts) > MaxResourceTypes {
		return fmt.Errorf("%s: %d resource types, give 1 to %d", what, len(ts), MaxResourceTypes)
	}
	for i, t := range ts {
		if len(t) == 0 || len(t) > MaxResourceTypeBytes || t[0] < 'A' || t[0] > 'Z' {
			return fmt.Errorf("%s[%d] %s: a FHIR resource type name (e.g. \"Observation\") of at most %d letters", what, i, short(t), MaxResourceTypeBytes)
		}
		for j := 1; j < len(t); j++ {
			if c := t[j]; !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return fmt.Errorf("%s[%d] %s: a resource type name has letters only", what, i, short(t))
			}
		}
		if i > 0 && ts[i-1] >= t {
			return fmt.Errorf("%s: must be strictly ascending (%q then %q)", what, ts[i-1], t)
		}
	}
	return nil
}

// checkDate: a calendar date YYYYMMDD, years 1900 to 9999.
func checkDate(what string, d uint32) error {
	y, m, day := d/10000, d/100%100, d%100
	if y < 1900 || y > 9999 || m < 1 || m > 12 || day < 1 || day > daysIn(y, m) {
		return fmt.Errorf("%s %d: not a date YYYYMMDD", what, d)
	}
	return nil
}

func daysIn(y, m uint32) uint32 {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

func checkSealedKey(what string, b []byte) error {
	if len(b) != SealedKeySize {
		return fmt.Errorf("%s is %d bytes, a sealed data key is %d", what, len(b), SealedKeySize)
	}
	return nil
}

// probeScalar is any fixed X25519 scalar: X25519(probe, pub) fails exactly
// when pub is a low-order point, to which nothing can be sealed safely.
var probeScalar = sha256.Sum256([]byte("medchain/records/seal-key-probe"))

func checkSealPubKey(b []byte) error {
	if len(b) != SealPubKeySize {
		return fmt.Errorf("seal_pubkey is %d bytes, an X25519 public key is %d", len(b), SealPubKeySize)
	}
	if _, err := curve25519.X25519(probeScalar[:], b); err != nil {
		return errors.New("seal_pubkey is a low-order X25519 point; make a key with `medchain keys`")
	}
	return nil
}

// checkText: printable UTF-8 (no control characters) of at most max bytes;
// required refuses an empty or blank text.
func checkText(what, s string, max int, required bool) error {
	if len(s) > max {
		return fmt.Errorf("%s is %d bytes, the limit is %d", what, len(s), max)
	}
	if required && strings.TrimSpace(s) == "" {
		return fmt.Errorf("%s is empty", what)
	}
	for _, r := range s {
		if r == unicode.ReplacementChar || unicode.IsControl(r) {
			return fmt.Errorf("%s holds a control or invalid character", what)
		}
	}
	return nil
}

// checkPurposes: 1 to 3 grantable purposes, strictly ascending.
func checkPurposes(ps []pb.Purpose) error {
	if len(ps) == 0 {
		return errors.New("purposes: give at least one (treatment, consultation, referral)")
	}
	for i, p := range ps {
		if p != pb.Purpose_PURPOSE_TREATMENT && p != pb.Purpose_PURPOSE_CONSULTATION && p != pb.Purpose_PURPOSE_REFERRAL {
			return fmt.Errorf("purposes[%d] %s: a grant carries treatment, consultation or referral (emergency is break-glass only)", i, p)
		}
		if i > 0 && ps[i-1] >= p {
			return errors.New("purposes: must be strictly ascending")
		}
	}
	return nil
}

func checkConsent(c pb.Consent, optional bool) error {
	switch {
	case c == pb.Consent_CONSENT_OPT_IN, c == pb.Consent_CONSENT_OPT_OUT:
		return nil
	case c == pb.Consent_CONSENT_UNSPECIFIED && optional:
		return nil
	}
	return fmt.Errorf("consent %s: give opt-in or opt-out", c)
}

// checkURL: "https://host[:port][/path]" in printable ASCII without
// spaces, quotes, angle brackets, backslashes or user info. A hand-written
// check, not net/url: a parser that changes between Go releases must not
// decide consensus.
func checkURL(s string) error {
	if len(s) > MaxURLBytes {
		return fmt.Errorf("url is %d bytes, the limit is %d", len(s), MaxURLBytes)
	}
	rest, ok := strings.CutPrefix(s, "https://")
	if !ok {
		return fmt.Errorf("url %s: must start with https://", short(s))
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte("\"'<>\\`{}|^", c) >= 0 {
			return fmt.Errorf("url %s: character %q is not allowed", short(s), c)
		}
	}
	host, _, _ := strings.Cut(rest, "/")
	if host == "" || strings.ContainsAny(host, "@?#") {
		return fmt.Errorf("url %s: needs a host, without user info, query or fragment", short(s))
	}
	return nil
}
