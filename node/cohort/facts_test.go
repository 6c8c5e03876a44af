package cohort

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/medchain/medchain/node/fhir"
)

const testPseudonym = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

func goodFacts() *PatientFacts {
	return &PatientFacts{Format: FactsFormat, Hospital: "h1", Generation: 0, Pseudonym: testPseudonym,
		LocalIDs: []string{"h0-p0000001", "h0-p0000009"}, Sex: "female", BirthDate: 19700615, DeathDate: 20240701, ResearchConsent: true}
}

func TestFactsIDFollowsTheDocumentedFormula(t *testing.T) {
	sum := func(parts ...string) [32]byte { return sha256.Sum256([]byte(strings.Join(parts, ""))) }
	cases := []struct {
		name string
		got  [32]byte
		want [32]byte
	}{
		{"generation 0 is SHA-256 of the domain, hospital, a zero byte and the pseudonym",
			FactsID("h1", testPseudonym), sum("medchain/patient-facts/v1\x00", "h1", "\x00", testPseudonym)},
		{"FactsIDAt of generation 0 is FactsID", FactsIDAt("h1", testPseudonym, 0), FactsID("h1", testPseudonym)},
		{"a later generation appends a zero byte and the generation big-endian",
			FactsIDAt("h1", testPseudonym, 258), sum("medchain/patient-facts/v1\x00", "h1", "\x00", testPseudonym, "\x00\x00\x00\x01\x02")},
		{"an entry's ID is the id of its hospital, pseudonym and generation",
			(&PatientFacts{Hospital: "h2", Pseudonym: testPseudonym, Generation: 3}).ID(), FactsIDAt("h2", testPseudonym, 3)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("id %x, want %x", tc.got, tc.want)
			}
		})
	}
	t.Run("another hospital gives another id", func(t *testing.T) {
		if FactsID("h1", testPseudonym) == FactsID("h2", testPseudonym) {
			t.Fatal("same id")
		}
	})
}

func TestPatientFactsRoundTripAndRefusals(t *testing.T) {
	good, err := goodFacts().Encode()
	if err != nil {
		t.Fatal(err)
	}
	t.Run("an encoded entry decodes to the same facts", func(t *testing.T) {
		f, err := DecodePatientFacts(good)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := f.Encode()
		if !bytes.Equal(again, good) || f.BirthDate != 19700615 || f.LocalIDs[1] != "h0-p0000009" {
			t.Fatalf("round trip changed the entry: %s", again)
		}
	})
	mutate := func(fn func(f *PatientFacts)) string {
		f := goodFacts()
		fn(f)
		b, _ := jsonOf(f)
		return b
	}
	cases := []struct {
		name, input, says string
	}{
		{"an unknown key is refused naming it", strings.Replace(string(good), `{"format"`, `{"name":"x","format"`, 1), `unknown field "name"`},
		{"a repeated key is refused", strings.Replace(string(good), `"sex":"female"`, `"sex":"female","sex":"male"`, 1), "canonical form"},
		{"spaces are refused", strings.Replace(string(good), `,"sex"`, `, "sex"`, 1), "canonical form"},
		{"a null is refused", strings.Replace(string(good), `"local_ids":["h0-p0000001","h0-p0000009"]`, `"local_ids":null`, 1), "local_ids"},
		{"trailing data is refused", string(good) + "{}", "trailing data"},
		{"a truncated entry is refused", string(good[:40]), "truncated"},
		{"another version is refused with the way out", mutate(func(f *PatientFacts) { f.Format = "medchain/patient-facts/v2" }), "needs a newer medchain"},
		{"a malformed pseudonym is refused", mutate(func(f *PatientFacts) { f.Pseudonym = strings.ToUpper(testPseudonym) }), "field pseudonym"},
		{"a malformed hospital id is refused", mutate(func(f *PatientFacts) { f.Hospital = "H 1" }), "field hospital"},
		{"an entry without local ids is refused", mutate(func(f *PatientFacts) { f.LocalIDs = []string{} }), "field local_ids"},
		{"local ids out of order are refused", mutate(func(f *PatientFacts) { f.LocalIDs = []string{"h0-p0000009", "h0-p0000001"} }), "strictly ascending"},
		{"a local id that is not a FHIR id is refused without quoting it", mutate(func(f *PatientFacts) { f.LocalIDs = []string{"secret id"} }), "field local_ids[0]"},
		{"an unknown sex is refused", mutate(func(f *PatientFacts) { f.Sex = "f" }), "field sex"},
		{"a birth date that is no date is refused", mutate(func(f *PatientFacts) { f.BirthDate = 19700230 }), "field birth_date"},
		{"a death before birth is refused", mutate(func(f *PatientFacts) { f.DeathDate = 19600101 }), "before birth_date"},
		{"a wrong JSON type is refused naming the field", strings.Replace(string(good), `"birth_date":19700615`, `"birth_date":"1970"`, 1), "field birth_date"},
		{"an oversized entry is refused", `{"format":"` + strings.Repeat("x", MaxFactsBytes) + `"}`, "at most"},
		{"something that is not JSON is refused", "not json", "syntax error"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodePatientFacts([]byte(tc.input))
			if !errors.Is(err, ErrFacts) || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want ErrFacts saying %q", err, tc.says)
			}
			for _, secret := range []string{"secret id", "19700615", "h0-p000000"} {
				if strings.Contains(err.Error(), secret) {
					t.Fatalf("the error quotes a value: %v", err)
				}
			}
		})
	}
}

// jsonOf encodes f without checking it, as a damaged or foreign writer might.
func jsonOf(f *PatientFacts) (string, error) {
	g := *f
	b, err := json.Marshal(&g)
	return string(b), err
}

func TestNewPatientFacts(t *testing.T) {
	yes, no := true, false
	consent := func(v *bool) []fhir.Extension {
		if v == nil {
			return nil
		}
		return []fhir.Extension{{URL: fhir.ConsentExtensionURL, ValueBoolean: v}}
	}
	a := &fhir.Patient{ID: "b", Gender: "male", BirthDate: "1980-02-29", DeceasedDateTime: "2024-03-01T23:30:00-05:00", Extension: consent(&yes)}
	b := &fhir.Patient{ID: "a", Gender: "female", BirthDate: "1981-01-01", Extension: consent(&yes)}
	c := &fhir.Patient{ID: "c", Extension: consent(&no)}
	d := &fhir.Patient{ID: "d"}
	cases := []struct {
		name     string
		patients []*fhir.Patient
		check    func(f *PatientFacts) bool
	}{
		{"one consenting Patient gives its facts, the death date as written", []*fhir.Patient{a},
			func(f *PatientFacts) bool {
				return f.Sex == "male" && f.BirthDate == 19800229 && f.DeathDate == 20240301 && f.ResearchConsent && len(f.LocalIDs) == 1
			}},
		{"two Patients of one person: ids ascending, demographics from the lowest id", []*fhir.Patient{a, b},
			func(f *PatientFacts) bool {
				return f.LocalIDs[0] == "a" && f.LocalIDs[1] == "b" && f.Sex == "female" && f.BirthDate == 19810101 && f.DeathDate == 0 && f.ResearchConsent
			}},
		{"a refusal at one local Patient means no consent", []*fhir.Patient{a, c}, func(f *PatientFacts) bool { return !f.ResearchConsent }},
		{"an absent consent extension means no consent", []*fhir.Patient{d}, func(f *PatientFacts) bool { return !f.ResearchConsent && f.Sex == "" && f.BirthDate == 0 }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := NewPatientFacts("h1", testPseudonym, tc.patients)
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(f) {
				t.Fatalf("facts %+v", f)
			}
			if _, err := f.Encode(); err != nil {
				t.Fatalf("the facts do not encode: %v", err)
			}
		})
	}
	t.Run("no Patient is refused", func(t *testing.T) {
		if _, err := NewPatientFacts("h1", testPseudonym, nil); !errors.Is(err, ErrFacts) {
			t.Fatalf("err = %v", err)
		}
	})
}

func FuzzDecodePatientFacts(f *testing.F) {
	good, _ := goodFacts().Encode()
	f.Add(good)
	f.Add([]byte(`{"format":"medchain/patient-facts/v1"}`))
	f.Add([]byte(`{}`))
	f.Add([]byte(`[1,2]`))
	f.Fuzz(func(t *testing.T, b []byte) {
		pf, err := DecodePatientFacts(b)
		if err != nil {
			if !errors.Is(err, ErrFacts) {
				t.Fatalf("error %v does not wrap ErrFacts", err)
			}
			return
		}
		again, err := pf.Encode()
		if err != nil || !bytes.Equal(again, b) {
			t.Fatalf("an accepted entry does not re-encode to itself: %v", err)
		}
	})
}
