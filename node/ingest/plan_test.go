package ingest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/fhir"
)

func TestRecordID(t *testing.T) {
	want := func(msg string) string {
		h := sha256.Sum256([]byte(msg))
		return hex.EncodeToString(h[:])
	}
	cases := []struct {
		name              string
		hospital, typ, id string
		same              string // the message the id must hash, spelled out
		differsFrom       [3]string
	}{
		{"an encounter's id hashes the domain, the hospital and the local resource id", "h0", "Encounter", "h0-e00000001",
			"medchain/record id/v1\x00h0\x00Encounter/h0-e00000001", [3]string{"h1", "Encounter", "h0-e00000001"}},
		{"the same local id at another type is another record", "h0", "Condition", "x1",
			"medchain/record id/v1\x00h0\x00Condition/x1", [3]string{"h0", "Observation", "x1"}},
		{"a hospital id that ends like a type cannot collide", "h0-a", "Observation", "b",
			"medchain/record id/v1\x00h0-a\x00Observation/b", [3]string{"h0", "a-Observation", "b"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			id := RecordID(c.hospital, c.typ, c.id)
			if got := hex.EncodeToString(id[:]); got != want(c.same) {
				t.Fatalf("RecordID = %s, want %s", got, want(c.same))
			}
			if again := RecordID(c.hospital, c.typ, c.id); again != id {
				t.Fatal("RecordID is not a function of its input")
			}
			if other := RecordID(c.differsFrom[0], c.differsFrom[1], c.differsFrom[2]); other == id {
				t.Fatalf("%v gives the same id", c.differsFrom)
			}
		})
	}
}

func TestRecordDate(t *testing.T) {
	cases := []struct {
		name    string
		in      fhir.DateTime
		want    uint32
		wantErr string
	}{
		{"a date is taken as written", "2024-02-29", 20240229, ""},
		{"a dateTime keeps its local calendar date whatever the zone", "2024-03-01T00:30:00+08:00", 20240301, ""},
		{"an absent date is refused with the way out", "", 0, "add it to the export"},
		{"a date before 1900 is refused", "1899-12-31", 0, "from 1900"},
		{"a malformed date is refused", "2024-13-01", 0, "not a valid"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := recordDate(c.in)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("err = %v, want it to say %q", err, c.wantErr)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("recordDate(%q) = %d, %v; want %d", c.in, got, err, c.want)
			}
		})
	}
}

func TestConsent(t *testing.T) {
	yes, no := true, false
	ext := func(v *bool) []fhir.Extension {
		return []fhir.Extension{{URL: fhir.ConsentExtensionURL, ValueBoolean: v}}
	}
	cases := []struct {
		name string
		p    *fhir.Patient
		want pb.Consent
	}{
		{"a patient who said yes opts in", &fhir.Patient{ID: "a", Extension: ext(&yes)}, pb.Consent_CONSENT_OPT_IN},
		{"a patient who said no opts out", &fhir.Patient{ID: "a", Extension: ext(&no)}, pb.Consent_CONSENT_OPT_OUT},
		{"a patient who said nothing has made no choice", &fhir.Patient{ID: "a"}, pb.Consent_CONSENT_UNSPECIFIED},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := consentOf(c.p); got != c.want {
				t.Fatalf("consentOf = %v, want %v", got, c.want)
			}
			back, err := parseConsent(consentName(c.want))
			if err != nil || back != c.want {
				t.Fatalf("consent does not survive the spool: %v, %v", back, err)
			}
		})
	}
	merges := []struct {
		name string
		a, b pb.Consent
		want pb.Consent
	}{
		{"two yes stay yes", pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_OPT_IN},
		{"a no beats a yes", pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_OPT_OUT, pb.Consent_CONSENT_OPT_OUT},
		{"a yes and no choice make no choice", pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_UNSPECIFIED, pb.Consent_CONSENT_UNSPECIFIED},
		{"a no and no choice make a no", pb.Consent_CONSENT_UNSPECIFIED, pb.Consent_CONSENT_OPT_OUT, pb.Consent_CONSENT_OPT_OUT},
	}
	for _, c := range merges {
		t.Run(c.name, func(t *testing.T) {
			if got := mergeConsent(c.a, c.b); got != c.want {
				t.Fatalf("mergeConsent(%v, %v) = %v, want %v", c.a, c.b, got, c.want)
			}
		})
	}
}

func TestMakePlan(t *testing.T) {
	pepper := []byte(strings.Repeat("p", 32))
	patient := `{"resourceType":"Patient","id":"p1","identifier":[{"system":"urn:medchain:national-id","value":"11010519491231002X"}],"name":[{"family":"Li","given":["Wei"]}]}`
	twin := `{"resourceType":"Patient","id":"p2","identifier":[{"system":"urn:medchain:national-id","value":"110105-19491231-002x"}],"name":[{"family":"LI","given":["wei"]}]}`
	enc := `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":"2024-05-06T09:00:00+08:00"}}`
	encNoDate := `{"resourceType":"Encounter","id":"e2","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"}}`
	cond := `{"resourceType":"Condition","id":"c1","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"I10"}]},"subject":{"reference":"Patient/p2"},"onsetDateTime":"2020-01-02"}`
	cases := []struct {
		name      string
		ndjson    string
		identity  []string
		patients  int
		records   int
		wantErr   error
		errSays   string
		errHidden string // identity that must not appear in the error
	}{
		{"two local patients with one identity are one pseudonym with both records", patient + "\n" + twin + "\n" + enc + "\n" + cond,
			[]string{"national_id", "name"}, 1, 2, nil, "", ""},
		{"a record without its clinical date is refused with its position", patient + "\n" + encNoDate,
			[]string{"national_id"}, 0, 0, ErrExport, "line 2", ""},
		{"a patient without a selected identity field is refused without its values", patient,
			[]string{"national_id", "phone"}, 0, 0, ErrExport, "phone is empty", "11010519491231002X"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := fhir.ReadNDJSON(strings.NewReader(c.ndjson), fhir.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			cohort, err := fhir.NewCohort(s)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := makePlan(cohort, []*fhir.Set{s}, "h0", pepper, c.identity)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) || !strings.Contains(err.Error(), c.errSays) {
					t.Fatalf("err = %v, want %v saying %q", err, c.wantErr, c.errSays)
				}
				if c.errHidden != "" && strings.Contains(err.Error(), c.errHidden) {
					t.Fatalf("the error quotes identity: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, p := range plan {
				n += len(p.records)
			}
			if len(plan) != c.patients || n != c.records {
				t.Fatalf("plan has %d patients, %d records; want %d, %d", len(plan), n, c.patients, c.records)
			}
		})
	}
}

func TestPlaintextIsAOneEntryBundleTheReaderReadsBack(t *testing.T) {
	r := &plannedRecord{res: &fhir.Condition{ID: "c1", Code: fhir.CodeableConcept{Coding: []fhir.Coding{{System: fhir.SystemICD10, Code: "I10"}}},
		Subject: fhir.Reference{Reference: "Patient/p1"}, OnsetDateTime: "2020-01-02"}}
	pt, err := r.plaintext()
	if err != nil {
		t.Fatal(err)
	}
	s, err := fhir.ReadBundle(strings.NewReader(string(pt)), fhir.Limits{})
	if err != nil {
		t.Fatalf("the record's plaintext is not a Bundle the reader accepts: %v\n%s", err, pt)
	}
	if len(s.Conditions) != 1 || s.Len() != 1 || s.Conditions[0].ID != "c1" {
		t.Fatalf("read back %d resources", s.Len())
	}
}

// TestGroup: steps travel up to per at a time, in order, and a step of a
// refused batch travels alone without splitting the others more than it
// must.
func TestGroup(t *testing.T) {
	steps := func(items ...string) []*pendingTx {
		out := make([]*pendingTx, len(items))
		for i, it := range items {
			out[i] = &pendingTx{item: it}
		}
		return out
	}
	cases := []struct {
		name  string
		batch []string
		per   int
		alone []string
		want  string
	}{
		{"empty", nil, 3, nil, ""},
		{"full txs and a remainder", []string{"a", "b", "c", "d", "e", "f", "g"}, 3, nil, "abc|def|g"},
		{"one step per tx", []string{"a", "b", "c"}, 1, nil, "a|b|c"},
		{"a lone step in the middle", []string{"a", "b", "c", "d", "e"}, 3, []string{"c"}, "ab|c|de"},
		{"lone steps first and last", []string{"a", "b", "c", "d"}, 2, []string{"a", "d"}, "a|bc|d"},
		{"every step alone", []string{"a", "b"}, 200, []string{"a", "b"}, "a|b"},
		{"more than per between lone steps", []string{"x", "a", "b", "c", "d", "e", "y"}, 2, []string{"x", "y"}, "x|ab|cd|e|y"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			alone := map[string]bool{}
			for _, a := range tc.alone {
				alone[a] = true
			}
			var txs []string
			n := 0
			for _, g := range group(steps(tc.batch...), tc.per, alone) {
				s := ""
				for _, st := range g {
					s += st.item
				}
				txs = append(txs, s)
				n += len(g)
			}
			if got := strings.Join(txs, "|"); got != tc.want || n != len(tc.batch) {
				t.Fatalf("group = %q (%d steps), want %q", got, n, tc.want)
			}
		})
	}
}
