package sharing

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// Parsers of what people type: each refuses bad input with a message that
// says what is wrong and how to fix it, and returns a value in the form the
// chain wants (sorted, without duplicates). None echoes a pseudonym.

// parseHexID checks a pseudonym or record id: 64 lowercase hex digits.
// The message never repeats s: a mistyped pseudonym may be a real name.
func parseHexID(what, s string) ([32]byte, error) {
	id, err := records.ParseID(what, s)
	if err != nil {
		if len(s) != 64 {
			return id, fmt.Errorf("%s: want 64 lowercase hex digits, got %d characters", what, len(s))
		}
		return id, fmt.Errorf("%s: want 64 lowercase hex digits (0-9, a-f), got other characters", what)
	}
	return id, nil
}

// ParseRecordID checks one record id.
func ParseRecordID(s string) (string, error) {
	_, err := parseHexID("record id", strings.TrimSpace(s))
	return strings.TrimSpace(s), err
}

// ParsePseudonym checks a patient's pseudonym.
func ParsePseudonym(s string) (string, error) {
	_, err := parseHexID("pseudonym", s)
	return s, err
}

// splitList splits a comma-separated list, trimming spaces; empty items
// are refused.
func splitList(what, s string) ([]string, error) {
	if strings.TrimSpace(s) == "" {
		return nil, fmt.Errorf("%s is empty; give a comma-separated list", what)
	}
	parts := strings.Split(s, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
		if parts[i] == "" {
			return nil, fmt.Errorf("%s: item %d is empty (a stray comma?)", what, i+1)
		}
	}
	return parts, nil
}

// ParseRecordIDs parses "R1,R2,…": 1 to records.MaxGrantRecords record ids,
// returned ascending without duplicates.
func ParseRecordIDs(s string) ([]string, error) {
	ids, err := splitList("record ids", s)
	if err != nil {
		return nil, err
	}
	for i, id := range ids {
		if _, err := parseHexID(fmt.Sprintf("record id %d", i+1), id); err != nil {
			return nil, err
		}
	}
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > records.MaxGrantRecords {
		return nil, fmt.Errorf("%d record ids; a grant names at most %d (use --types and dates for more)", len(ids), records.MaxGrantRecords)
	}
	return ids, nil
}

// ParseResourceTypes parses "Observation,Condition": FHIR resource type
// names, returned ascending without duplicates.
func ParseResourceTypes(s string) ([]string, error) {
	ts, err := splitList("resource types", s)
	if err != nil {
		return nil, err
	}
	for _, t := range ts {
		if len(t) > records.MaxResourceTypeBytes || t[0] < 'A' || t[0] > 'Z' {
			return nil, fmt.Errorf("resource type %q: a FHIR resource type name starts with a capital letter and has at most %d letters (e.g. Observation)", clip(t), records.MaxResourceTypeBytes)
		}
		for _, c := range t {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
				return nil, fmt.Errorf("resource type %q: letters only (e.g. Observation, Condition)", clip(t))
			}
		}
	}
	slices.Sort(ts)
	ts = slices.Compact(ts)
	if len(ts) > records.MaxResourceTypes {
		return nil, fmt.Errorf("%d resource types; give at most %d", len(ts), records.MaxResourceTypes)
	}
	return ts, nil
}

var purposeNames = map[string]pb.Purpose{
	"treatment":    pb.Purpose_PURPOSE_TREATMENT,
	"consultation": pb.Purpose_PURPOSE_CONSULTATION,
	"referral":     pb.Purpose_PURPOSE_REFERRAL,
	"emergency":    pb.Purpose_PURPOSE_EMERGENCY,
}

// ParsePurpose parses one purpose: treatment, consultation, referral or
// emergency (break-glass only).
func ParsePurpose(s string) (pb.Purpose, error) {
	p, ok := purposeNames[strings.ToLower(strings.TrimSpace(s))]
	if !ok {
		return 0, fmt.Errorf("purpose %q: give treatment, consultation or referral", clip(s))
	}
	return p, nil
}

// ParsePurposes parses "treatment,consultation": the purposes of a grant,
// returned ascending without duplicates. Emergency is refused: it is the
// purpose of break-glass access only.
func ParsePurposes(s string) ([]pb.Purpose, error) {
	names, err := splitList("purposes", s)
	if err != nil {
		return nil, err
	}
	out := make([]pb.Purpose, 0, len(names))
	for _, n := range names {
		p, err := ParsePurpose(n)
		if err != nil {
			return nil, err
		}
		if p == pb.Purpose_PURPOSE_EMERGENCY {
			return nil, errors.New("purpose emergency: a grant carries treatment, consultation or referral; emergencies use `medchain breakglass request`")
		}
		out = append(out, p)
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

// PurposeName is the lower-case name ParsePurpose reads.
func PurposeName(p pb.Purpose) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PURPOSE_"))
}

// ParseFinding parses a review finding: justified, unjustified or inconclusive.
func ParseFinding(s string) (pb.Finding, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "justified":
		return pb.Finding_FINDING_JUSTIFIED, nil
	case "unjustified":
		return pb.Finding_FINDING_UNJUSTIFIED, nil
	case "inconclusive":
		return pb.Finding_FINDING_INCONCLUSIVE, nil
	}
	return 0, fmt.Errorf("finding %q: give justified, unjustified or inconclusive", clip(s))
}

// ParseConsent parses a research choice: in (opt-in) or out (opt-out).
func ParseConsent(s string) (pb.Consent, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "in", "opt-in":
		return pb.Consent_CONSENT_OPT_IN, nil
	case "out", "opt-out":
		return pb.Consent_CONSENT_OPT_OUT, nil
	}
	return 0, fmt.Errorf("consent %q: give in (opt in to research) or out (opt out)", clip(s))
}

// ParseDate parses a calendar date, YYYY-MM-DD or YYYYMMDD, years 1900 to
// 9999, into the chain's YYYYMMDD number.
func ParseDate(s string) (uint32, error) {
	s = strings.TrimSpace(s)
	layout := "2006-01-02"
	if len(s) == 8 {
		layout = "20060102"
	}
	t, err := time.Parse(layout, s)
	if err != nil || len(s) != len(layout) || t.Year() < 1900 {
		return 0, fmt.Errorf("date %q: give a date YYYY-MM-DD (or YYYYMMDD) from 1900 on", clip(s))
	}
	d, _ := strconv.ParseUint(t.Format("20060102"), 10, 32)
	return uint32(d), nil
}

// CheckHospitalID checks a member hospital id: 1 to 32 of a-z, 0-9 and
// "-", starting with a letter or digit.
func CheckHospitalID(s string) error {
	if s == "" || len(s) > 32 || s[0] == '-' {
		return fmt.Errorf("hospital id %q: 1 to 32 characters of a-z, 0-9 and -, not starting with -", clip(s))
	}
	for _, c := range s {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return fmt.Errorf("hospital id %q: 1 to 32 characters of a-z, 0-9 and -", clip(s))
		}
	}
	return nil
}

// ParseAddress checks an account address ("mc1" + 40 hex digits).
func ParseAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if _, err := pb.ParseAddress(s); err != nil {
		return "", fmt.Errorf("%w (an address is mc1 then 40 hex digits; `medchain keys show NAME --address` prints one)", err)
	}
	return s, nil
}

// clip bounds user text quoted in an error.
func clip(s string) string {
	const limit = 48
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
