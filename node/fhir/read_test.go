package fhir

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const (
	patientLine     = `{"resourceType":"Patient","id":"p1","extension":[{"url":"urn:medchain:research-consent","valueBoolean":true}],"identifier":[{"system":"urn:medchain:national-id","value":"110105-19491231-002x"}],"name":[{"use":"official","family":"Wang","given":["Fang"]}],"telecom":[{"system":"phone","value":"138-0013-8000","use":"mobile"}],"gender":"female","birthDate":"1949-12-31"}`
	encounterLine   = `{"resourceType":"Encounter","id":"e1","status":"finished","class":{"system":"http://terminology.hl7.org/CodeSystem/v3-ActCode","code":"AMB"},"subject":{"reference":"Patient/p1"},"period":{"start":"2024-03-01T09:30:00+08:00","end":"2024-03-01T10:00:00+08:00"}}`
	conditionLine   = `{"resourceType":"Condition","id":"c1","code":{"coding":[{"system":"http://hl7.org/fhir/sid/icd-10","code":"E11.9"}]},"subject":{"reference":"Patient/p1"},"onsetDateTime":"2019-05-02"}`
	observationLine = `{"resourceType":"Observation","id":"o1","status":"final","code":{"coding":[{"system":"http://loinc.org","code":"4548-4"}]},"subject":{"reference":"Patient/p1"},"effectiveDateTime":"2024-03-01T09:30:00+08:00","valueQuantity":{"value":7.10,"unit":"%","system":"http://unitsofmeasure.org","code":"%"}}`
)

var validNDJSON = strings.Join([]string{patientLine, encounterLine, conditionLine, observationLine}, "\n") + "\n"

func validBundle() string {
	var b strings.Builder
	b.WriteString("{\n  \"resourceType\": \"Bundle\",\n  \"type\": \"collection\",\n  \"entry\": [\n")
	for i, l := range []string{patientLine, encounterLine, conditionLine, observationLine} {
		if i > 0 {
			b.WriteString(",\n")
		}
		b.WriteString("    {\"fullUrl\": \"urn:uuid:" + fmt.Sprint(i) + "\", \"resource\": " + l + "}")
	}
	b.WriteString("\n  ]\n}\n")
	return b.String()
}

func TestReadersAcceptTheSubset(t *testing.T) {
	t.Run("NDJSON with a blank line and CRLF line ends", func(t *testing.T) {
		in := strings.ReplaceAll(patientLine+"\n\n"+encounterLine+"\n"+conditionLine+"\n"+observationLine, "\n", "\r\n")
		s, err := ReadNDJSON(strings.NewReader(in), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if len(s.Patients) != 1 || len(s.Encounters) != 1 || len(s.Conditions) != 1 || len(s.Observations) != 1 {
			t.Fatalf("got %d/%d/%d/%d resources", len(s.Patients), len(s.Encounters), len(s.Conditions), len(s.Observations))
		}
		if p, _ := s.Position("Encounter/e1"); p.Line != 3 || p.Entry != -1 {
			t.Fatalf("position of e1: %+v", p)
		}
		if got := s.Observations[0].ValueQuantity.Value; got != "7.10" {
			t.Fatalf("decimal text %q, want 7.10 kept exactly", got)
		}
		if !s.Patients[0].ResearchConsent() {
			t.Fatal("consent extension not read")
		}
	})
	t.Run("a Bundle, with entry positions", func(t *testing.T) {
		s, err := ReadBundle(strings.NewReader(validBundle()), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if s.Len() != 4 {
			t.Fatalf("%d resources", s.Len())
		}
		if p, _ := s.Position("Condition/c1"); p.Line != 7 || p.Entry != 2 {
			t.Fatalf("position of c1: %+v", p)
		}
	})
}

// errCase is one rejected input: the error must wrap kind and mention every want.
type errCase struct {
	name string
	in   string
	kind error
	want []string
}

func checkRejects(t *testing.T, read func(string) error, cases []errCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := read(tc.in)
			if err == nil {
				t.Fatal("accepted")
			}
			var fe *Error
			if !errors.As(err, &fe) {
				t.Fatalf("error %T %v is not a *fhir.Error", err, err)
			}
			if !errors.Is(err, tc.kind) {
				t.Fatalf("error %q does not wrap %v", err, tc.kind)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}

func TestNDJSONRejectsBadInputWithItsPosition(t *testing.T) {
	two := func(second string) string { return patientLine + "\n" + second + "\n" }
	repl := func(line, old, new string) string {
		if !strings.Contains(line, old) {
			panic("test bug: " + old)
		}
		return strings.Replace(line, old, new, 1)
	}
	cases := []errCase{
		{"an unsupported resourceType is named", two(`{"resourceType":"Practitioner","id":"d1"}`), ErrResourceType, []string{"line 2", `"Practitioner"`, "Patient, Encounter"}},
		{"a missing resourceType", two(`{"id":"d1"}`), ErrResourceType, []string{"line 2", "field resourceType"}},
		{"a missing id", two(repl(encounterLine, `"id":"e1",`, "")), ErrMissing, []string{"line 2", "field id"}},
		{"an id with a slash", two(repl(encounterLine, `"id":"e1"`, `"id":"e/1"`)), ErrInvalid, []string{"line 2", "field id", "A-Z"}},
		{"an id longer than 64", two(repl(encounterLine, `"id":"e1"`, `"id":"`+strings.Repeat("x", 65)+`"`)), ErrInvalid, []string{"field id"}},
		{"an unknown key names its path", two(repl(encounterLine, `"code":"AMB"`, `"code":"AMB","cod":"x"`)), ErrUnknownField, []string{"line 2", "Encounter/e1", "field class.cod"}},
		{"a repeated key", two(repl(encounterLine, `"status":"finished"`, `"status":"finished","status":"planned"`)), ErrDuplicate, []string{"field status", "twice"}},
		{"null", two(repl(encounterLine, `"status":"finished"`, `"status":null`)), ErrInvalid, []string{"field status", "null"}},
		{"an empty string", two(repl(conditionLine, `"onsetDateTime":"2019-05-02"`, `"onsetDateTime":""`)), ErrInvalid, []string{"field onsetDateTime", "empty"}},
		{"an empty array", repl(patientLine, `"given":["Fang"]`, `"given":[]`), ErrInvalid, []string{"line 1", "field name[0].given", "empty array"}},
		{"a number where a string belongs", repl(patientLine, `"gender":"female"`, `"gender":1`), ErrInvalid, []string{"field gender", "want a string"}},
		{"an invalid calendar date", repl(patientLine, `"birthDate":"1949-12-31"`, `"birthDate":"1949-02-30"`), ErrInvalid, []string{"field birthDate", "1949-02-30"}},
		{"a partial date", repl(patientLine, `"birthDate":"1949-12-31"`, `"birthDate":"1949"`), ErrInvalid, []string{"field birthDate", "YYYY-MM-DD"}},
		{"a dateTime without a zone", two(repl(observationLine, `2024-03-01T09:30:00+08:00`, `2024-03-01T09:30:00`)), ErrInvalid, []string{"field effectiveDateTime"}},
		{"an encounter that ends before it starts", two(repl(encounterLine, `"end":"2024-03-01T10:00:00+08:00"`, `"end":"2024-02-01T10:00:00+08:00"`)), ErrInvalid, []string{"field period.end", "before"}},
		{"a gender outside the value set", repl(patientLine, `"gender":"female"`, `"gender":"f"`), ErrInvalid, []string{"field gender", `"f"`}},
		{"a coding without a code", two(repl(conditionLine, `,"code":"E11.9"`, "")), ErrMissing, []string{"Condition/c1", "field code.coding[0].code"}},
		{"a subject that is not a Patient", two(repl(conditionLine, `Patient/p1`, `Group/g1`)), ErrInvalid, []string{"field subject.reference", "Group/g1"}},
		{"an observation without a value", two(repl(observationLine, `"value":7.10,`, "")), ErrMissing, []string{"field valueQuantity.value"}},
		{"a decimal with an exponent", two(repl(observationLine, `7.10`, `71e-1`)), ErrInvalid, []string{"field valueQuantity.value", "exponent"}},
		{"an unknown extension", repl(patientLine, `urn:medchain:research-consent`, `http://example.org/race`), ErrUnknownField, []string{"field extension[0].url", "example.org/race"}},
		{"two national ids", repl(patientLine, `"identifier":[`, `"identifier":[{"system":"urn:medchain:national-id","value":"1"},`), ErrDuplicate, []string{"field identifier[1]"}},
		{"the same id twice names both lines", patientLine + "\n" + patientLine + "\n", ErrDuplicate, []string{"line 2", "Patient/p1", "line 1"}},
		{"invalid JSON", two(`{"resourceType":"Encounter",`), ErrSyntax, []string{"line 2", "invalid JSON"}},
		{"trailing garbage after the object", two(encounterLine + ` x`), ErrSyntax, []string{"line 2", "after top-level value"}},
		{"two objects on one line", two(encounterLine + encounterLine), ErrSyntax, []string{"line 2"}},
		{"an array instead of an object", two(`[` + encounterLine + `]`), ErrInvalid, []string{"line 2", "want a JSON object"}},
		{"invalid UTF-8", two("{\"resourceType\":\"Patient\",\"id\":\"p2\",\"name\":[{\"family\":\"W\xffng\"}]}"), ErrSyntax, []string{"line 2", "invalid UTF-8 at byte"}},
	}
	checkRejects(t, func(in string) error { _, err := ReadNDJSON(strings.NewReader(in), Limits{}); return err }, cases)
}

func TestLimitsAreEnforced(t *testing.T) {
	cases := []struct {
		name string
		lim  Limits
		in   string
		want string
	}{
		{"a line over MaxLineBytes", Limits{MaxLineBytes: 100}, validNDJSON, "line 1: line longer than 100 bytes"},
		{"a long line in the middle of the file", Limits{MaxLineBytes: len(conditionLine)}, conditionLine + "\n" + observationLine + "\n", "line 2: line longer than"},
		{"a stream over MaxFileBytes", Limits{MaxFileBytes: int64(len(patientLine) + 10)}, validNDJSON, fmt.Sprintf("more than %d bytes", len(patientLine)+10)},
		{"more than MaxResources", Limits{MaxResources: 3}, validNDJSON, "line 4: more than 3 resources"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is an error", func(t *testing.T) {
			_, err := ReadNDJSON(strings.NewReader(tc.in), tc.lim)
			if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want ErrTooLarge with %q", err, tc.want)
			}
		})
	}
	t.Run("a Bundle over MaxFileBytes is an error", func(t *testing.T) {
		_, err := ReadBundle(strings.NewReader(validBundle()), Limits{MaxFileBytes: 200})
		if !errors.Is(err, ErrTooLarge) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a Bundle over MaxResources names the entry", func(t *testing.T) {
		_, err := ReadBundle(strings.NewReader(validBundle()), Limits{MaxResources: 2})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), "entry 2") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("ReadFile refuses a large file before reading it", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "big.ndjson")
		if err := os.WriteFile(path, []byte(validNDJSON), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := ReadFile(path, Limits{MaxFileBytes: 10})
		if !errors.Is(err, ErrTooLarge) || !strings.Contains(err.Error(), path) {
			t.Fatalf("got %v", err)
		}
	})
}

func TestBundleRejectsBadInputWithEntryAndLine(t *testing.T) {
	b := validBundle()
	repl := func(old, new string) string {
		if !strings.Contains(b, old) {
			panic("test bug: " + old)
		}
		return strings.Replace(b, old, new, 1)
	}
	cases := []errCase{
		{"a single resource is not a Bundle", patientLine, ErrResourceType, []string{`"Patient"`, "NDJSON"}},
		{"no resourceType", `{"type":"collection"}`, ErrResourceType, []string{"field resourceType"}},
		{"an unsupported Bundle type", repl(`"type": "collection"`, `"type": "document"`), ErrInvalid, []string{"field type", "document"}},
		{"no Bundle type", repl(`"type": "collection",`, ""), ErrMissing, []string{"field type"}},
		{"an unknown Bundle key", repl(`"type": "collection",`, `"type": "collection", "signature": {},`), ErrUnknownField, []string{"signature"}},
		{"a repeated Bundle key", repl(`"type": "collection",`, `"type": "collection", "type": "batch",`), ErrDuplicate, []string{"type"}},
		{"entry is not an array", `{"resourceType":"Bundle","type":"collection","entry":{}}`, ErrInvalid, []string{"entry"}},
		{"an entry without a resource", repl(`{"fullUrl": "urn:uuid:1", "resource": `+encounterLine+`}`, `{"fullUrl": "urn:uuid:1"}`), ErrMissing, []string{"line 6", "entry 1", "field resource"}},
		{"a bad field inside an entry's resource", repl(`"code":"E11.9"`, `"code":"E11.9","cde":1`), ErrUnknownField, []string{"line 7", "entry 2", "Condition/c1", "field resource.code.coding[0].cde"}},
		{"an unsupported resource in an entry", repl(encounterLine, `{"resourceType":"Practitioner","id":"d"}`), ErrResourceType, []string{"entry 1", "Practitioner"}},
		{"a GET request entry", repl(`"fullUrl": "urn:uuid:3",`, `"fullUrl": "urn:uuid:3", "request": {"method": "GET", "url": "Observation"},`), ErrInvalid, []string{"entry 3", "request.method"}},
		{"an unknown entry key", repl(`"fullUrl": "urn:uuid:0",`, `"fullUrl": "urn:uuid:0", "response": {},`), ErrUnknownField, []string{"entry 0", "response"}},
		{"invalid JSON names its line", repl(`"type": "collection",`, `"type": "collection",,`), ErrSyntax, []string{"line 3", "invalid JSON"}},
		{"trailing garbage after the Bundle", b + "}", ErrSyntax, []string{"after top-level value"}},
		{"a Bundle that is an array", "[" + b + "]", ErrInvalid, []string{"Bundle must be a JSON object"}},
		{"a duplicate resource across entries", repl(encounterLine, patientLine), ErrDuplicate, []string{"entry 1", "Patient/p1", "entry 0"}},
	}
	checkRejects(t, func(in string) error { _, err := ReadBundle(strings.NewReader(in), Limits{}); return err }, cases)
}

func TestReadFileChoosesByExtensionAndNamesTheFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	nd := write("all.ndjson", validNDJSON)
	bu := write("all.json", validBundle())
	for _, p := range []string{nd, bu} {
		if s, err := ReadFile(p, Limits{}); err != nil || s.Len() != 4 {
			t.Fatalf("%s: %v", p, err)
		}
	}
	if _, err := ReadFile(write("all.xml", "<x/>"), Limits{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), ".ndjson") {
		t.Fatalf("xml: %v", err)
	}
	bad := write("bad.ndjson", patientLine+"\n"+strings.Replace(encounterLine, "finished", "done", 1)+"\n")
	_, err := ReadFile(bad, Limits{})
	if want := bad + ": line 2: Encounter/e1: field status: "; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("got %v, want a message starting %q", err, want)
	}
}

func TestCohortResolvesReferencesAcrossFiles(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "patients.ndjson")
	ef := filepath.Join(dir, "encounters.ndjson")
	if err := os.WriteFile(pf, []byte(patientLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(ef, []byte(encounterLine+"\n"+strings.NewReplacer(`"e1"`, `"e2"`, "Patient/p1", "Patient/p9").Replace(encounterLine)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := LoadCohort(Limits{}, pf, ef)
	if !errors.Is(err, ErrDangling) || !strings.Contains(err.Error(), ef+": line 2: Encounter/e2: field subject.reference: Patient/p9") {
		t.Fatalf("dangling reference: %v", err)
	}
	s, err := ReadNDJSON(strings.NewReader(validNDJSON), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCohort(s)
	if err != nil {
		t.Fatal(err)
	}
	r, ok := c.Patient("p1")
	if !ok || len(r.Encounters) != 1 || len(r.Conditions) != 1 || len(r.Observations) != 1 {
		t.Fatalf("record of p1: %+v", r)
	}
	if _, err := NewCohort(s, s); !errors.Is(err, ErrDuplicate) {
		t.Fatalf("the same set twice: %v", err)
	}
}

func TestCanonicalRecordIsStableAndReadsBack(t *testing.T) {
	// The same record written in another key order, with other whitespace,
	// gives the same canonical bytes.
	shuffled := `{"gender":"female","birthDate":"1949-12-31","id":"p1","resourceType":"Patient",` +
		`"name":[{"given":["Fang"],"family":"Wang","use":"official"}],` +
		`"telecom":[{"use":"mobile","value":"138-0013-8000","system":"phone"}],` +
		`"identifier":[{"value":"110105-19491231-002x","system":"urn:medchain:national-id"}],` +
		`"extension":[{"valueBoolean":true,"url":"urn:medchain:research-consent"}]}`
	canon := func(ndjson string) []byte {
		t.Helper()
		s, err := ReadNDJSON(strings.NewReader(ndjson), Limits{})
		if err != nil {
			t.Fatal(err)
		}
		c, err := NewCohort(s)
		if err != nil {
			t.Fatal(err)
		}
		b, err := c.Patients[0].CanonicalJSON()
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a := canon(validNDJSON)
	b := canon(observationLine + "\n\n" + conditionLine + "\n" + encounterLine + "\n   " + shuffled + "\n")
	if !bytes.Equal(a, b) {
		t.Fatalf("canonical forms differ:\n%s\n%s", a, b)
	}
	want := `{"resourceType":"Bundle","type":"collection","entry":[{"resource":` + patientLine + `},{"resource":` + encounterLine +
		`},{"resource":` + conditionLine + `},{"resource":` + observationLine + `}]}`
	if string(a) != want {
		t.Fatalf("canonical record:\n got %s\nwant %s", a, want)
	}
	s, err := ReadBundle(bytes.NewReader(a), Limits{})
	if err != nil {
		t.Fatalf("the canonical record does not read back: %v", err)
	}
	c, _ := NewCohort(s)
	if again, _ := c.Patients[0].CanonicalJSON(); !bytes.Equal(again, a) {
		t.Fatal("canonical form is not a fixed point")
	}
}

func TestDecimalScaling(t *testing.T) {
	for _, tc := range []struct {
		d     Decimal
		scale int64
		want  int64
		ok    bool
	}{
		{"7.1", 100, 710, true}, {"7.10", 100, 710, true}, {"-0.5", 10, -5, true}, {"120", 1, 120, true},
		{"7.125", 100, 0, false}, {"1e3", 1, 0, false}, {"99999999999999999999", 1, 0, false},
	} {
		got, err := tc.d.Scaled(tc.scale)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("%s × %d = %d, %v; want %d ok=%v", tc.d, tc.scale, got, err, tc.want, tc.ok)
		}
	}
	for v, want := range map[int64]string{710: "7.10", -5: "-0.05", 3: "0.03", 12345: "123.45"} {
		if got := DecimalFromScaled(v, 100); string(got) != want {
			t.Errorf("DecimalFromScaled(%d, 100) = %s, want %s", v, got, want)
		}
	}
}
