package audit

import (
	"bytes"
	"crypto/ed25519"
	"encoding/csv"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestDenialReason(t *testing.T) {
	cases := []struct {
		name string
		code uint32
		log  string
		want string
	}{
		{"a grant issued to another doctor names not_grantee", 16, "denied: unauthorized: denied by the alliance's rules: not_grantee: grant 1 was issued to mc1a, not to mc1b", "not_grantee"},
		{"a revoked grant names revoked", 16, "denied: unauthorized: denied by the alliance's rules: revoked: grant 1 was revoked at height 52", "revoked"},
		{"an exhausted budget names the privacy budget", 16, "denied: unauthorized: denied by the alliance's rules: privacy budget: this query asks ρ = 50", "privacy budget"},
		{"a refusal that is no denial gives its code's name", 15, "wrong_state: access 3 was reviewed at height 9", "wrong_state"},
		{"an unknown code is named by its number", 77, "whatever", "code 77"},
		{"an empty denial reason falls back to the code's name", 16, "denied by the alliance's rules: ", "denied"},
		{"a reason of only a colon falls back to the code's name", 16, "denied by the alliance's rules: :", "denied"},
		{"an over-long reason gives its first word", 16, "denied by the alliance's rules: " + strings.Repeat("x", 30) + " " + strings.Repeat("y", 30), strings.Repeat("x", 30)},
	}
	t.Run("the marker is the end of the contracts' denial text", func(t *testing.T) {
		if !strings.HasSuffix(contracts.ErrDenied.Error()+": ", deniedMarker) {
			t.Fatalf("contracts.ErrDenied is %q; update deniedMarker", contracts.ErrDenied)
		}
	})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := DenialReason(tc.code, tc.log); got != tc.want {
				t.Fatalf("DenialReason(%d, %q) = %q, want %q", tc.code, tc.log, got, tc.want)
			}
		})
	}
}

// FuzzDenialReason: any log gives a short reason and never panics.
func FuzzDenialReason(f *testing.F) {
	f.Add(uint32(16), "denied: unauthorized: denied by the alliance's rules: not_grantee: grant 1")
	f.Add(uint32(16), "denied by the alliance's rules: ")
	f.Add(uint32(3), "")
	f.Fuzz(func(t *testing.T, code uint32, log string) {
		r := DenialReason(code, log)
		if r == "" || len(r) > 40 && !strings.HasPrefix(r, "code ") {
			t.Fatalf("reason %q for %q", r, log)
		}
	})
}

func TestReportOptionsValidate(t *testing.T) {
	cases := []struct {
		name string
		o    ReportOptions
		says string
	}{
		{"no filter is valid", ReportOptions{}, ""},
		{"a pseudonym of 64 lowercase hex digits is valid", ReportOptions{Patient: strings.Repeat("0a", 32)}, ""},
		{"a patient given by name is refused", ReportOptions{Patient: "Jane Doe"}, "pseudonym"},
		{"an uppercase pseudonym is refused", ReportOptions{Patient: strings.Repeat("0A", 32)}, "pseudonym"},
		{"a negative since is refused", ReportOptions{Since: -1}, "--since -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.o.Validate()
			if tc.says == "" && err != nil || tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)) {
				t.Fatalf("Validate() = %v, want %q", err, tc.says)
			}
		})
	}
}

func TestReportSections(t *testing.T) {
	pid := strings.Repeat("ab", 32)
	cases := []struct {
		name string
		o    ReportOptions
		want string
	}{
		{"no flag gives every section", ReportOptions{}, "accesses break_glass queries governance"},
		{"a patient alone gives the record sections", ReportOptions{Patient: pid}, "accesses break_glass"},
		{"a patient with --governance gives only governance", ReportOptions{Patient: pid, Governance: true}, "governance"},
		{"--breakglass and --queries give those two", ReportOptions{BreakGlass: true, Queries: true}, "break_glass queries"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := strings.Join(tc.o.sectionNames(), " "); got != tc.want {
				t.Fatalf("sections %q, want %q", got, tc.want)
			}
		})
	}
}

// sampleReport is a report with one row in each section, free text that
// tries to break the text table and a spreadsheet.
func sampleReport() *Report {
	n := int64(17)
	return &Report{ChainID: "c", Height: 9, AppHash: "AB", CheckedBy: "header 10",
		Sections:   []string{"accesses", "break_glass", "queries", "governance"},
		Accesses:   []Access{{Entry: 1, Height: 3, Doctor: "mc1d", Record: "r1", Patient: "p1", Custodian: "h0", Grant: "emergency", Purpose: "emergency"}},
		Refusals:   []Refusal{{Height: 4, Signer: "mc1c", Type: "access.request", Code: 16, CodeName: "denied", Reason: "no_grant", Log: "=HYPERLINK(\"x\")"}},
		BreakGlass: []BreakGlass{{Entry: 1, Height: 3, Reason: "line one\nline\ttwo", Review: "closed", Finding: "justified", ReviewHeight: 5, Note: "+ok"}},
		Queries:    []QueryEntry{{ID: 1, Text: "SELECT count()", Statistics: []string{"count()"}, Status: "released", Gate: "passed", NoisedCount: &n, RhoMicro: 1_500_000, Contributors: []uint64{0, 2}}},
		Budgets:    []BudgetEntry{{Researcher: "mc1r", GrantedMicro: 10_000_000, SpentMicro: 1_500_000}},
		Governance: []Proposal{{ID: 1, Action: "grant-budget", Detail: "-1", Electorate: []string{"h0", "h1"}, Yes: []string{"h0"}, Votes: []Vote{{Hospital: "h0", Yes: true, Height: 7}}, Outcome: "open"}},
	}
}

func TestWriteCSV(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteCSV(&buf); err != nil {
		t.Fatal(err)
	}
	rd := csv.NewReader(&buf)
	rd.FieldsPerRecord = -1
	rows, err := rd.ReadAll()
	if err != nil {
		t.Fatalf("the CSV does not parse: %v", err)
	}
	bySection := map[string][]string{}
	headers := 0
	for _, r := range rows {
		if r[0] == "section" {
			headers++
			continue
		}
		bySection[r[0]] = r
	}
	cases := []struct {
		name    string
		section string
		col     int
		want    string
	}{
		{"an access row names its grant as emergency", "access", 8, "emergency"},
		{"a refusal's formula-like log is neutralised", "refusal", 11, "'=HYPERLINK(\"x\")"},
		{"a break-glass reason keeps its newline inside quotes", "break_glass", 8, "line one\nline\ttwo"},
		{"a break-glass note starting with + is neutralised", "break_glass", 13, "'+ok"},
		{"a query's ρ is in units", "query", 8, "1.5"},
		{"a query's noised count is public once gated", "query", 7, "17"},
		{"a budget's spent ρ is in units", "budget", 3, "1.5"},
		{"a vote shows hospital, choice and height", "governance", 9, "h0=yes@7"},
	}
	if headers != 6 {
		t.Fatalf("%d header rows, want one per section (6)", headers)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := bySection[tc.section]
			if len(r) <= tc.col || r[tc.col] != tc.want {
				t.Fatalf("row %q: column %d is not %q", r, tc.col, tc.want)
			}
		})
	}
}

func TestWriteText(t *testing.T) {
	var buf bytes.Buffer
	if err := sampleReport().WriteText(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	cases := []struct {
		name string
		ok   bool
	}{
		{"the header names the chain, height and what checked it", strings.Contains(out, "audit report of chain c: state at height 9, app hash AB (checked against header 10)")},
		{"the summary counts the sections", strings.Contains(out, "summary: 0 accesses")},
		{"every section has its title", strings.Contains(out, "ACCESSES") && strings.Contains(out, "REFUSALS") && strings.Contains(out, "BREAK-GLASS") && strings.Contains(out, "QUERIES") && strings.Contains(out, "BUDGETS") && strings.Contains(out, "GOVERNANCE")},
		{"a reason's newline and tab do not break the table", strings.Contains(out, "line one line two")},
		{"a clean report says no check failed", !strings.Contains(out, "CHECKS FAILED")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Fatalf("text report:\n%s", out)
			}
		})
	}
	t.Run("a write error is returned", func(t *testing.T) {
		if err := sampleReport().WriteText(failingWriter{}); err == nil {
			t.Fatal("no error from a failing writer")
		}
	})
}

type edPub = ed25519.PublicKey

var timeZero time.Time

func testKey() (ed25519.PublicKey, ed25519.PrivateKey) {
	priv := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{7}, ed25519.SeedSize))
	return priv.Public().(ed25519.PublicKey), priv
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

func TestRefusalOf(t *testing.T) {
	_, priv := testKey()
	signer := pb.AddressOf(priv.Public().(edPub))
	rid := strings.Repeat("cd", 32)
	access, err := tx.Build(priv, "c", signer, 4, records.TypeAccess, &pb.RequestAccess{RecordId: rid, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: 7})
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
		res  *abcitypes.ExecTxResult
		want Refusal
	}{
		{"a denied access request names its record, grant and reason", access,
			&abcitypes.ExecTxResult{Code: 16, Log: "denied: unauthorized: denied by the alliance's rules: out_of_scope: no"},
			Refusal{Signer: signer, Type: records.TypeAccess, Code: 16, CodeName: "denied", Reason: "out_of_scope", Record: rid, Grant: "7"}},
		{"undecodable bytes keep the code and log", []byte{1, 2, 3},
			&abcitypes.ExecTxResult{Code: 1, Log: "tx_decode: bad"},
			Refusal{Code: 1, CodeName: "tx_decode", Reason: "tx_decode"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := refusalOf(5, 1, tc.raw, tc.res)
			if got.Height != 5 || got.Tx != 1 || got.Signer != tc.want.Signer || got.Type != tc.want.Type || got.Code != tc.want.Code ||
				got.CodeName != tc.want.CodeName || got.Reason != tc.want.Reason || got.Record != tc.want.Record || got.Grant != tc.want.Grant || got.Log != tc.res.Log {
				t.Fatalf("refusal %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestVerifyRefusesIncompleteEvidence(t *testing.T) {
	cases := []struct {
		name string
		ev   *Evidence
	}{
		{"nil evidence", nil},
		{"evidence without a header", &Evidence{Entry: Entry{EntryAccess, 1}, Height: 3}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is not verified", func(t *testing.T) {
			_, err := tc.ev.Verify(nil, timeZero)
			var ve *VerifyError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), "incomplete") {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestParseEntry(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want Entry
		path string
		says string
	}{
		{"an access entry", "access:12", Entry{EntryAccess, 12}, "/records/access/12", ""},
		{"a grant", "grant:3", Entry{EntryGrant, 3}, "/records/grant/3", ""},
		{"a query", "query:1", Entry{EntryQuery, 1}, "/research/query/1", ""},
		{"no colon", "access12", Entry{}, "", "give KIND:ID"},
		{"an unknown kind", "record:1", Entry{}, "", "is not access, grant or query"},
		{"id 0", "access:0", Entry{}, "", "positive decimal"},
		{"a signed id", "access:+1", Entry{}, "", "positive decimal"},
		{"a leading zero", "access:01", Entry{}, "", "positive decimal"},
		{"an id past 2^64", "grant:18446744073709551616", Entry{}, "", "positive decimal"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e, err := ParseEntry(tc.in)
			if tc.says != "" {
				if err == nil || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("ParseEntry(%q) = %v, %v; want an error saying %q", tc.in, e, err, tc.says)
				}
				return
			}
			if err != nil || e != tc.want || e.Path() != tc.path || e.String() != tc.in {
				t.Fatalf("ParseEntry(%q) = %v (%s), %v", tc.in, e, e.Path(), err)
			}
			if k, err := e.Key(); err != nil || len(k) != 9 {
				t.Fatalf("key %x, %v", k, err)
			}
		})
	}
}

// FuzzParseEntry: whatever it accepts prints back to the same text and
// has a state key; it never panics, and its errors stay short.
func FuzzParseEntry(f *testing.F) {
	for _, s := range []string{"access:1", "grant:18446744073709551615", "query:0", ":", "access:", "x:y:z", "access:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := ParseEntry(s)
		if err != nil {
			if len(err.Error()) > 600 || !utf8.ValidString(err.Error()) && utf8.ValidString(s) {
				t.Fatalf("error %q", err)
			}
			return
		}
		if e.String() != s {
			t.Fatalf("%q parsed as %v", s, e)
		}
		if _, err := e.Key(); err != nil {
			t.Fatalf("%v has no key: %v", e, err)
		}
	})
}
