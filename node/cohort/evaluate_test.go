package cohort

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/node/fhir"
)

var testPepper = []byte("a test alliance pepper of 32 B!!")

func patientLine(id, nid, gender, birth, death string, consent *bool) string {
	s := `{"resourceType":"Patient","id":"` + id + `"`
	if consent != nil {
		s += fmt.Sprintf(`,"extension":[{"url":"%s","valueBoolean":%v}]`, fhir.ConsentExtensionURL, *consent)
	}
	s += `,"identifier":[{"system":"` + fhir.SystemNationalID + `","value":"` + nid + `"}]`
	if gender != "" {
		s += `,"gender":"` + gender + `"`
	}
	if birth != "" {
		s += `,"birthDate":"` + birth + `"`
	}
	if death != "" {
		s += `,"deceasedDateTime":"` + death + `"`
	}
	return s + "}"
}

func encounterLine(id, patient, status, class, start string) string {
	return fmt.Sprintf(`{"resourceType":"Encounter","id":"%s","status":"%s","class":{"system":"%s","code":"%s"},"subject":{"reference":"Patient/%s"},"period":{"start":"%s"}}`,
		id, status, fhir.SystemActCode, class, patient, start)
}

func conditionLine(id, patient, code, onset string) string {
	return fmt.Sprintf(`{"resourceType":"Condition","id":"%s","code":{"coding":[{"system":"%s","code":"%s"}]},"subject":{"reference":"Patient/%s"},"onsetDateTime":"%s"}`,
		id, fhir.SystemICD10, code, patient, onset)
}

func observationLine(id, patient, status, loinc, at, value string) string {
	return fmt.Sprintf(`{"resourceType":"Observation","id":"%s","status":"%s","code":{"coding":[{"system":"%s","code":"%s"}]},"subject":{"reference":"Patient/%s"},"effectiveDateTime":"%s","valueQuantity":{"value":%s}}`,
		id, status, fhir.SystemLOINC, loinc, patient, at, value)
}

// fixture is four patients whose figures are worked out by hand in
// TestEvaluate (reference date 2025-01-01):
//
//	p1 female, 54, died 2024-07-01, consents; E11.9, C34.1 (onset 2024-01-01);
//	   HbA1c 7.5 and 8.0 at the same instant (8.0 has the greater id), 6.0
//	   earlier; BMI 30.25; SBP 140; AMB and IMP
//	p2 male, 17 (birthday tomorrow), consents; E110 (not E11); SBP 120; EMER 2024-12-31
//	p3 no gender, no birth date, refuses; C34 since 2010; HbA1c 7.123; BMI 25
//	p4 other, 75, dies in 2026, consents; C34.9 twice (onsets 2024-12-01
//	   and -15); SBP 500 (beyond the bound 300); BMI 22 (and 45 entered in
//	   error); an Encounter entered in error in 2010
func fixture(t testing.TB) (*Table, map[string]string) {
	t.Helper()
	yes, no := true, false
	lines := []string{
		patientLine("p1", "N1", "female", "1970-06-15", "2024-07-01", &yes),
		patientLine("p2", "N2", "male", "2007-01-02", "", &yes),
		patientLine("p3", "N3", "", "", "", &no),
		patientLine("p4", "N4", "other", "1950-01-01", "2026-01-01T08:00:00+08:00", &yes),
		encounterLine("e1", "p1", "finished", "AMB", "2023-01-01T09:00:00+08:00"),
		encounterLine("e2", "p1", "finished", "IMP", "2019-05-05T09:00:00+08:00"),
		encounterLine("e3", "p2", "finished", "EMER", "2024-12-31T23:00:00+08:00"),
		encounterLine("e4", "p3", "finished", "AMB", "2020-01-01"),
		encounterLine("e5", "p4", "finished", "AMB", "2024-12-01T10:00:00+08:00"),
		encounterLine("e6", "p4", "entered-in-error", "AMB", "2010-01-01"),
		conditionLine("c1", "p1", "E11.9", "2020-01-01"),
		conditionLine("c2", "p1", "C34.1", "2024-01-01"),
		conditionLine("c3", "p2", "E110", "2022-01-01"),
		conditionLine("c4", "p3", "C34", "2010-01-01"),
		conditionLine("c5", "p4", "C34.9", "2024-12-15"),
		conditionLine("c6", "p4", "C34.9", "2024-12-01"),
		observationLine("o1", "p1", "final", fhir.LOINCHbA1c, "2023-01-01T10:00:00+08:00", "7.5"),
		observationLine("o2", "p1", "final", fhir.LOINCHbA1c, "2023-01-01T02:00:00Z", "8.0"),
		observationLine("o9", "p1", "final", fhir.LOINCHbA1c, "2022-06-01", "6.0"),
		observationLine("o3", "p1", "final", fhir.LOINCBMI, "2023-01-01", "30.25"),
		observationLine("o4", "p1", "final", fhir.LOINCSystolicBP, "2023-01-01", "140"),
		observationLine("o5", "p2", "final", fhir.LOINCSystolicBP, "2024-12-31", "120"),
		observationLine("o6", "p3", "final", fhir.LOINCHbA1c, "2020-01-01", "7.123"),
		observationLine("o7", "p3", "final", fhir.LOINCBMI, "2020-01-01", "25"),
		observationLine("o8", "p4", "final", fhir.LOINCSystolicBP, "2024-12-01", "500"),
		observationLine("oa", "p4", "final", fhir.LOINCBMI, "2024-12-01", "22"),
		observationLine("ob", "p4", "entered-in-error", fhir.LOINCBMI, "2024-12-02", "45"),
	}
	set, err := fhir.ReadNDJSON(strings.NewReader(strings.Join(lines, "\n")+"\n"), fhir.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	tab, err := FromFHIR(set, testPepper, []string{fhir.FieldNationalID})
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]string{} // pseudonym → local id
	for _, p := range set.Patients {
		pid, err := fhir.Pseudonym(testPepper, fhir.IdentityOf(p), []string{fhir.FieldNationalID})
		if err != nil {
			t.Fatal(err)
		}
		names[pid] = p.ID
	}
	return tab, names
}

// figures evaluates text and returns the sums by figure name, prefixed
// with the statistic's number when the query has several.
func figures(t *testing.T, tab *Table, text string, include func(string) bool) map[string]int64 {
	t.Helper()
	q, err := query.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	v, err := Evaluate(tab, q, query.DefaultLimits, include)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := query.Layout(q, query.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	if len(v) != plan.Slots {
		t.Fatalf("vector of %d slots, the layout has %d", len(v), plan.Slots)
	}
	out := map[string]int64{}
	for i, b := range plan.Blocks {
		for _, f := range b.Figures {
			s, err := f.Join(v)
			if err != nil {
				t.Fatal(err)
			}
			name := f.Name
			if len(plan.Blocks) > 1 {
				name = fmt.Sprintf("%d:%s", i+1, name)
			}
			out[name] = s
		}
	}
	return out
}

func everyone(string) bool { return true }

func TestEvaluate(t *testing.T) {
	tab, names := fixture(t)
	consenting := func(p string) bool { f, _ := tab.Patient(p); return f.ResearchConsent }
	only := func(local string) func(string) bool { return func(p string) bool { return names[p] == local } }
	const asOf = " AS OF '2025-01-01'"
	cases := []struct {
		name    string
		text    string
		include func(string) bool
		want    map[string]int64
	}{
		{"count counts every included patient", "SELECT count()", everyone, map[string]int64{"n": 4}},
		{"include leaves out the patients it refuses", "SELECT count()", consenting, map[string]int64{"n": 3}},
		{"a condition matches its code and codes below it, not a longer category", "SELECT count() WHERE condition = 'E11'", everyone, map[string]int64{"n": 1}},
		{"a category matches every code in it", "SELECT count() WHERE condition = 'C34'", everyone, map[string]int64{"n": 3}},
		{"a full code matches only itself", "SELECT count() WHERE condition = 'C34.9'", everyone, map[string]int64{"n": 1}},
		{"a comparison on a missing value is false", "SELECT count() WHERE bmi < 100", everyone, map[string]int64{"n": 3}},
		{"so its negation holds for the patient without a value", "SELECT count() WHERE NOT bmi < 100", everyone, map[string]int64{"n": 1}},
		{"age is completed years at the reference date", "SELECT histogram(age; 0, 17, 18, 54, 55, 120)", everyone,
			map[string]int64{"bin[0]": 0, "bin[1]": 1, "bin[2]": 0, "bin[3]": 1, "bin[4]": 1}},
		{"an age filter excludes the patient without a birth date", "SELECT count() WHERE age >= 0", everyone, map[string]int64{"n": 3}},
		{"the latest measurement wins and a tie at one instant goes to the greater id", "SELECT sum(hba1c)", everyone,
			map[string]int64{"n": 2, "sum": 800 + 712}},
		{"a value beyond its field's bound is clipped in sums", "SELECT sum(sbp) WHERE sbp >= 300", everyone,
			map[string]int64{"n": 1, "sum": 300}},
		{"but not in filters", "SELECT count() WHERE sbp = 300", everyone, map[string]int64{"n": 0}},
		{"variance sums the squares of the patients with a value", "SELECT variance(bmi)", everyone,
			map[string]int64{"n": 3, "sum": 3025 + 2500 + 2200, "sum_sq": 3025*3025 + 2500*2500 + 2200*2200}},
		{"sex filters match the FHIR gender", "SELECT count() WHERE sex = 'other' OR sex = 'female'", everyone, map[string]int64{"n": 2}},
		{"an absent gender is not unknown", "SELECT count() WHERE sex = 'unknown'", everyone, map[string]int64{"n": 0}},
		{"an encounter class filter finds any encounter of that class", "SELECT count() WHERE encounter = 'IMP'", everyone, map[string]int64{"n": 1}},
		{"a seen range is inclusive at both ends", "SELECT count() WHERE seen BETWEEN '2024-12-31' AND '2025-01-01'", everyone, map[string]int64{"n": 1}},
		{"an encounter entered in error was never seen", "SELECT count() WHERE seen BETWEEN '2010-01-01' AND '2010-12-31'", everyone, map[string]int64{"n": 0}},
		{"AND, OR and NOT combine", "SELECT count() WHERE (condition = 'C34' OR condition = 'E11') AND NOT sex = 'female'", everyone, map[string]int64{"n": 2}},
		{"survival: an event in its bin, a censoring in its bin, a long survivor at risk to the horizon",
			"SELECT survival(C34; 30, 365)", everyone, map[string]int64{
				"at_risk[0]": 3, "at_risk[1]": 3, "at_risk[2]": 2, "at_risk[6]": 2, "at_risk[7]": 1, "at_risk[12]": 1,
				"events[6]": 1, "events[0]": 0, "censored[1]": 1, "censored[12]": 0}},
		{"survival uses the earliest onset of the condition", "SELECT survival(C34.9; 1, 20)", only("p4"), map[string]int64{
			"at_risk[20]": 1, "censored[20]": 0}},
		{"linreg sums XᵀX, Xᵀy and yᵀy over patients with y and every x, clipped", "SELECT linreg(sbp ~ age + bmi)", everyone, map[string]int64{
			"xtx[0][0]": 2, "xtx[0][1]": 54 + 75, "xtx[0][2]": 3025 + 2200,
			"xtx[1][1]": 54*54 + 75*75, "xtx[1][2]": 54*3025 + 75*2200, "xtx[2][2]": 3025*3025 + 2200*2200,
			"xty[0]": 140 + 300, "xty[1]": 54*140 + 75*300, "xty[2]": 3025*140 + 2200*300, "yty": 140*140 + 300*300}},
		{"several statistics fill their own slots", "SELECT count(), mean(sbp) WHERE condition = 'C34'", everyone,
			map[string]int64{"1:n": 3, "2:n": 2, "2:sum": 140 + 300}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := figures(t, tab, tc.text+asOf, tc.include)
			for name, want := range tc.want {
				v, ok := got[name]
				if !ok {
					t.Fatalf("no figure %s in %v", name, got)
				}
				if v != want {
					t.Errorf("%s = %d, want %d", name, v, want)
				}
			}
		})
	}
}

func TestTheTableHoldsEachPatientsFacts(t *testing.T) {
	tab, names := fixture(t)
	byLocal := map[string]*Facts{}
	for _, f := range tab.Patients() {
		byLocal[names[f.Pseudonym]] = f
	}
	p1, p4 := byLocal["p1"], byLocal["p4"]
	cases := []struct {
		name string
		ok   bool
	}{
		{"every patient is there once", tab.Len() == 4 && len(byLocal) == 4},
		{"the first record date is the earliest encounter", p1.FirstRecordDate == 20190505},
		{"an encounter entered in error is not a record date", p4.FirstRecordDate == 20241201 && len(p4.Encounters) == 1},
		{"a death date is the date as written", p4.DeathDate == 20260101},
		{"an observation entered in error is not the latest", func() bool { v, ok := p4.Latest(pb.Field_FIELD_BMI); return ok && v == 2200 }()},
		{"age is not a measurement", func() bool { _, ok := p1.Latest(pb.Field_FIELD_AGE); return !ok }()},
		{"nothing is left unattached", tab.Unattached == 0 && tab.Conflicts == 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if !tc.ok {
				t.Fatal("does not hold")
			}
		})
	}
}

func TestEvaluateRefusesWithTheWayOut(t *testing.T) {
	tab, _ := fixture(t)
	good, err := query.Parse("SELECT count() AS OF '2025-01-01'")
	if err != nil {
		t.Fatal(err)
	}
	noDate, _ := query.Parse("SELECT count()")
	few := query.DefaultLimits
	few.MaxPatients = 3
	cases := []struct {
		name    string
		tab     *Table
		q       *pb.Query
		lim     query.Limits
		include func(string) bool
		says    string
	}{
		{"a query without ref_date is refused", tab, noDate, query.DefaultLimits, everyone, "ref_date"},
		{"a query that does not validate is refused with the validator's reason", tab, &pb.Query{RefDate: 20250101}, query.DefaultLimits, everyone, "no statistic"},
		{"no include function is refused", tab, good, query.DefaultLimits, nil, "include"},
		{"no table is refused", nil, good, query.DefaultLimits, everyone, "no table"},
		{"more patients than the limits were proven for is refused", tab, good, few, everyone, "more than the alliance's limit"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			v, err := Evaluate(tc.tab, tc.q, tc.lim, tc.include)
			if !errors.Is(err, ErrQuery) || !strings.Contains(err.Error(), tc.says) || v != nil {
				t.Fatalf("err = %v, want ErrQuery saying %q", err, tc.says)
			}
		})
	}
}

func TestFromFHIRRefusesAPatientWithoutIdentityWithoutQuotingIt(t *testing.T) {
	set, err := fhir.ReadNDJSON(strings.NewReader(`{"resourceType":"Patient","id":"secret-local-id","gender":"male"}`+"\n"), fhir.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = FromFHIR(set, testPepper, []string{fhir.FieldNationalID})
	if err == nil || !strings.Contains(err.Error(), "no pseudonym can be derived") || strings.Contains(err.Error(), "secret-local-id") {
		t.Fatalf("err = %v", err)
	}
}
