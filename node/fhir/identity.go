package fhir

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// IdentityFields are the fields a pseudonym may be derived from, as written
// in a Patient (IdentityOf) or already normalised (Normalized).
type IdentityFields struct {
	NationalID string // identifier with system SystemNationalID
	Insurance  string // identifier with system SystemInsurance
	Name       string // given names then family name, space-separated
	Phone      string // the mobile phone, else the first phone
}

// Field names for Pseudonym's which, in their canonical order.
const (
	FieldNationalID = "national_id"
	FieldInsurance  = "insurance"
	FieldName       = "name"
	FieldPhone      = "phone"
)

var fieldOrder = []string{FieldNationalID, FieldInsurance, FieldName, FieldPhone}

// MinPepperBytes is the shortest alliance pepper Pseudonym accepts.
const MinPepperBytes = 32 // as node/vault requires of the pepper file

// IdentityOf extracts the identity fields of p, unnormalised:
//   - NationalID, Insurance: the value of the identifier with system
//     SystemNationalID, SystemInsurance (Validate allows at most one each);
//   - Name: from the first name with use "official", else "usual", else the
//     first name: the given names, then the family name, joined by spaces;
//   - Phone: the first telecom with system "phone" and use "mobile", else the
//     first with system "phone".
//
// Missing fields are "".
func IdentityOf(p *Patient) IdentityFields {
	var f IdentityFields
	for _, id := range p.Identifier {
		switch id.System {
		case SystemNationalID:
			f.NationalID = id.Value
		case SystemInsurance:
			f.Insurance = id.Value
		}
	}
	if n := pickName(p.Name); n != nil {
		f.Name = strings.Join(append(slices.Clone(n.Given), n.Family), " ")
	}
	for _, want := range []string{"mobile", ""} {
		for _, c := range p.Telecom {
			if c.System == "phone" && (want == "" || c.Use == want) {
				f.Phone = c.Value
				break
			}
		}
		if f.Phone != "" {
			break
		}
	}
	return f
}

func pickName(names []HumanName) *HumanName {
	for _, use := range []string{"official", "usual"} {
		for i := range names {
			if names[i].Use == use {
				return &names[i]
			}
		}
	}
	if len(names) > 0 {
		return &names[0]
	}
	return nil
}

// Normalized applies the normalisation rules, so that the same person
// written differently by two hospitals gets equal fields. The rules are
// deliberately simple (no Unicode normalisation, no transliteration):
//   - NationalID, Insurance: keep only ASCII letters and digits, letters
//     upper-cased ("110105-19491231-002x" → "11010519491231002X"; the check
//     character X of a resident id survives);
//   - Name: trim, collapse every run of Unicode white space to one space,
//     lower-case (strings.ToLower);
//   - Phone: keep only the digits 0-9 ("+86 (138) 0013-8000" → "8613800138000";
//     so a country code must be written by both hospitals or by neither).
func (f IdentityFields) Normalized() IdentityFields {
	return IdentityFields{
		NationalID: NormalizeID(f.NationalID),
		Insurance:  NormalizeID(f.Insurance),
		Name:       NormalizeName(f.Name),
		Phone:      NormalizePhone(f.Phone),
	}
}

// NormalizeID keeps ASCII letters (upper-cased) and digits.
func NormalizeID(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
			b.WriteRune(r)
		case r >= 'a' && r <= 'z':
			b.WriteRune(r - 'a' + 'A')
		}
	}
	return b.String()
}

// NormalizeName trims, collapses white space and lower-cases.
func NormalizeName(s string) string { return strings.ToLower(strings.Join(strings.Fields(s), " ")) }

// NormalizePhone keeps the digits 0-9.
func NormalizePhone(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// selector is one parsed element of which: a field, whole or in part.
type selector struct {
	text  string // as given, e.g. "phone:last4"
	field int    // index in fieldOrder
	first int    // keep the first n runes (0: no limit)
	last  int    // keep the last n runes (0: no limit)
}

// ErrIdentity is the cause of every error from Pseudonym and
// ParseIdentitySelectors.
var ErrIdentity = errors.New("fhir: identity")

// ParseIdentitySelectors checks a pseudonym configuration: a non-empty list
// of distinct selectors, each a field name (national_id, insurance, name,
// phone), optionally with ":firstN" or ":lastN" (1 ≤ N ≤ 64) to use only the
// first or last N characters of the normalised value, e.g. "phone:last4".
// Use it to validate configuration at start-up.
func ParseIdentitySelectors(which []string) error {
	_, err := parseSelectors(which)
	return err
}

func parseSelectors(which []string) ([]selector, error) {
	if len(which) == 0 {
		return nil, fmt.Errorf("%w: no identity fields selected", ErrIdentity)
	}
	seen := map[string]bool{}
	out := make([]selector, 0, len(which))
	for _, w := range which {
		name, part, hasPart := strings.Cut(w, ":")
		sel := selector{text: w, field: slices.Index(fieldOrder, name)}
		if sel.field < 0 {
			return nil, fmt.Errorf("%w: unknown field %q (want %s)", ErrIdentity, name, strings.Join(fieldOrder, ", "))
		}
		if hasPart {
			var n *int
			var digits string
			switch {
			case strings.HasPrefix(part, "first"):
				n, digits = &sel.first, part[len("first"):]
			case strings.HasPrefix(part, "last"):
				n, digits = &sel.last, part[len("last"):]
			default:
				return nil, fmt.Errorf("%w: %q: the part must be firstN or lastN", ErrIdentity, w)
			}
			v, err := strconv.Atoi(digits)
			if err != nil || v < 1 || v > 64 || digits != strconv.Itoa(v) {
				return nil, fmt.Errorf("%w: %q: N must be a number from 1 to 64", ErrIdentity, w)
			}
			*n = v
		}
		if seen[w] {
			return nil, fmt.Errorf("%w: %q is selected twice", ErrIdentity, w)
		}
		seen[w] = true
		out = append(out, sel)
	}
	slices.SortFunc(out, func(a, b selector) int {
		if a.field != b.field {
			return a.field - b.field
		}
		return strings.Compare(a.text, b.text)
	})
	return out, nil
}

// Pseudonym returns a patient's on-chain id: the lower-case hex of
// HMAC-SHA256(pepper, message), where message is
//
//	"medchain-pseudonym-v1" then, for each selector sorted by field
//	(national_id, insurance, name, phone) and then by its text:
//	"\n" + selector + "=" + decimal byte length of value + ":" + value
//
// and value is the Normalized field, cut to its first or last N characters
// when the selector says so. The order of which does not matter. It fails
// (ErrIdentity) when the pepper is shorter than MinPepperBytes, a selector is
// invalid, or a selected field is empty or shorter than its part — an empty
// field would give every such patient the same pseudonym.
func Pseudonym(pepper []byte, fields IdentityFields, which []string) (string, error) {
	if len(pepper) < MinPepperBytes {
		return "", fmt.Errorf("%w: the pepper has %d bytes, fewer than %d", ErrIdentity, len(pepper), MinPepperBytes)
	}
	sels, err := parseSelectors(which)
	if err != nil {
		return "", err
	}
	n := fields.Normalized()
	values := []string{n.NationalID, n.Insurance, n.Name, n.Phone}
	mac := hmac.New(sha256.New, pepper)
	mac.Write([]byte("medchain-pseudonym-v1"))
	for _, s := range sels {
		v := values[s.field]
		if v == "" {
			return "", fmt.Errorf("%w: %s is empty after normalisation", ErrIdentity, fieldOrder[s.field])
		}
		runes := []rune(v)
		if k := max(s.first, s.last); k > len(runes) {
			return "", fmt.Errorf("%w: %s has %d characters, fewer than %q needs", ErrIdentity, fieldOrder[s.field], len(runes), s.text)
		}
		switch {
		case s.first > 0:
			v = string(runes[:s.first])
		case s.last > 0:
			v = string(runes[len(runes)-s.last:])
		}
		fmt.Fprintf(mac, "\n%s=%d:%s", s.text, len(v), v)
	}
	return hex.EncodeToString(mac.Sum(nil)), nil
}
