package sharing_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

var (
	idA = strings.Repeat("a", 64)
	idB = strings.Repeat("b", 63) + "0"
)

func TestParseRecordIDs(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		says     string
	}{
		{"ids come back sorted without duplicates", idB + ", " + idA + "," + idB, []string{idA, idB}, ""},
		{"one id is a list", idA, []string{idA}, ""},
		{"an empty list is refused", " ", nil, "empty"},
		{"a stray comma is refused", idA + ",", nil, "item 2 is empty"},
		{"a short id is refused with its length", "abc", nil, "got 3 characters"},
		{"an upper-case id is refused", strings.ToUpper(idA), nil, "0-9, a-f"},
		{"too many ids are refused", idA + manyIDs(257), nil, "at most 256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sharing.ParseRecordIDs(tc.in)
			checkParse(t, got, err, tc.want, tc.says)
		})
	}
}

func manyIDs(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, ",%064x", i)
	}
	return b.String()
}

func checkParse[T comparable](t *testing.T, got []T, err error, want []T, says string) {
	t.Helper()
	if says != "" {
		if err == nil || !strings.Contains(err.Error(), says) {
			t.Fatalf("got %v, %v; want an error saying %q", got, err, says)
		}
		return
	}
	if err != nil || !slices.Equal(got, want) {
		t.Fatalf("got %v, %v; want %v", got, err, want)
	}
}

func TestParseResourceTypes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []string
		says     string
	}{
		{"types come back sorted without duplicates", "Observation, Condition,Observation", []string{"Condition", "Observation"}, ""},
		{"a lower-case type is refused", "observation", nil, "capital letter"},
		{"a type with digits is refused", "Obs2", nil, "letters only"},
		{"an empty list is refused", "", nil, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sharing.ParseResourceTypes(tc.in)
			checkParse(t, got, err, tc.want, tc.says)
		})
	}
}

func TestParsePurposes(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     []pb.Purpose
		says     string
	}{
		{"purposes come back in the chain's order", "consultation,Treatment,consultation", []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_CONSULTATION}, ""},
		{"referral is a purpose", "referral", []pb.Purpose{pb.Purpose_PURPOSE_REFERRAL}, ""},
		{"emergency is refused with the break-glass hint", "emergency", nil, "breakglass request"},
		{"an unknown purpose is refused", "curiosity", nil, "give treatment"},
		{"an empty list is refused", "", nil, "empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := sharing.ParsePurposes(tc.in)
			checkParse(t, got, err, tc.want, tc.says)
		})
	}
	if n := sharing.PurposeName(pb.Purpose_PURPOSE_CONSULTATION); n != "consultation" {
		t.Fatalf("PurposeName = %q", n)
	}
}

func TestParseScalars(t *testing.T) {
	for _, tc := range []struct {
		name string
		do   func() (any, error)
		want any
		says string
	}{
		{"a dashed date parses", func() (any, error) { return sharing.ParseDate("2025-02-28") }, uint32(20250228), ""},
		{"a compact date parses", func() (any, error) { return sharing.ParseDate("20240229") }, uint32(20240229), ""},
		{"a day that does not exist is refused", func() (any, error) { return sharing.ParseDate("2025-02-29") }, nil, "YYYY-MM-DD"},
		{"a year before 1900 is refused", func() (any, error) { return sharing.ParseDate("1899-12-31") }, nil, "from 1900"},
		{"a loose date is refused", func() (any, error) { return sharing.ParseDate("2025-2-3") }, nil, "YYYY-MM-DD"},
		{"justified is a finding", func() (any, error) { return sharing.ParseFinding("Justified") }, pb.Finding_FINDING_JUSTIFIED, ""},
		{"an unknown finding is refused", func() (any, error) { return sharing.ParseFinding("maybe") }, nil, "inconclusive"},
		{"in is opt-in", func() (any, error) { return sharing.ParseConsent("in") }, pb.Consent_CONSENT_OPT_IN, ""},
		{"opt-out is out", func() (any, error) { return sharing.ParseConsent("opt-out") }, pb.Consent_CONSENT_OPT_OUT, ""},
		{"an unknown consent is refused", func() (any, error) { return sharing.ParseConsent("yes") }, nil, "give in"},
		{"a hospital id parses", func() (any, error) { return nil, sharing.CheckHospitalID("st-marys") }, nil, ""},
		{"a hospital id with a slash is refused", func() (any, error) { return nil, sharing.CheckHospitalID("h1/../x") }, nil, "a-z, 0-9"},
		{"an address parses", func() (any, error) { return sharing.ParseAddress("mc1" + strings.Repeat("0", 40)) }, "mc1" + strings.Repeat("0", 40), ""},
		{"a bad address says what an address is", func() (any, error) { return sharing.ParseAddress("alice") }, nil, "mc1 then 40 hex digits"},
		{"a pseudonym that is not hex is refused without echoing it", func() (any, error) { return sharing.ParsePseudonym("Mary Major") }, nil, "got 10 characters"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.do()
			if tc.says != "" {
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("got %v, %v; want an error saying %q", got, err, tc.says)
				}
				if strings.Contains(err.Error(), "Mary") {
					t.Fatalf("the error repeats the input: %v", err)
				}
				return
			}
			if err != nil || (tc.want != nil && got != tc.want) {
				t.Fatalf("got %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}

// The parsers read what people type: whatever it is, they answer a value
// or an error, never panic, and what they accept is in the chain's form.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{idA + "," + idB, "Observation,Condition", "treatment,consultation", "2025-01-31", "20250131", "in", "justified", "h1", "", ",", "\xff", "mc1" + strings.Repeat("0", 40)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ids, err := sharing.ParseRecordIDs(s); err == nil {
			if len(ids) == 0 || !slices.IsSorted(ids) || len(slices.Compact(slices.Clone(ids))) != len(ids) {
				t.Fatalf("ParseRecordIDs(%q) = %v: not strictly ascending", s, ids)
			}
		}
		if ts, err := sharing.ParseResourceTypes(s); err == nil {
			if len(ts) == 0 || !slices.IsSorted(ts) || len(slices.Compact(slices.Clone(ts))) != len(ts) {
				t.Fatalf("ParseResourceTypes(%q) = %v: not strictly ascending", s, ts)
			}
		}
		if ps, err := sharing.ParsePurposes(s); err == nil {
			if len(ps) == 0 || !slices.IsSorted(ps) || slices.Contains(ps, pb.Purpose_PURPOSE_EMERGENCY) {
				t.Fatalf("ParsePurposes(%q) = %v", s, ps)
			}
		}
		if d, err := sharing.ParseDate(s); err == nil && (d < 19000101 || d > 99991231) {
			t.Fatalf("ParseDate(%q) = %d", s, d)
		}
		_, _ = sharing.ParseFinding(s)
		_, _ = sharing.ParseConsent(s)
		_ = sharing.CheckHospitalID(s)
		_, _ = sharing.ParseAddress(s)
		if _, err := sharing.ParsePseudonym(s); err != nil {
			// The only two messages: neither repeats the input.
			if m := err.Error(); m != fmt.Sprintf("pseudonym: want 64 lowercase hex digits, got %d characters", len(s)) &&
				m != "pseudonym: want 64 lowercase hex digits (0-9, a-f), got other characters" {
				t.Fatalf("ParsePseudonym(%q): unexpected message %q", s, m)
			}
		}
	})
}
