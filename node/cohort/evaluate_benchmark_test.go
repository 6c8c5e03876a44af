package cohort

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// syntheticTable builds n patients with plausible facts straight in memory
// (FromFHIR over 100k patients would measure the FHIR reader instead).
func syntheticTable(n int) *Table {
	r := rand.New(rand.NewPCG(5, 7))
	sexes := []pb.Sex{pb.Sex_SEX_FEMALE, pb.Sex_SEX_MALE, pb.Sex_SEX_OTHER, pb.Sex_SEX_UNKNOWN}
	codes := []string{"E11.9", "E11.2", "I10", "J45.0", "C34.1", "C34.9", "E84.0"}
	classes := []string{"AMB", "IMP", "EMER"}
	date := func(y0, years int) uint32 {
		return uint32((y0+r.IntN(years))*10000 + (1+r.IntN(12))*100 + 1 + r.IntN(28))
	}
	t := &Table{byPseudonym: make(map[string]*Facts, n)}
	for i := range n {
		f := &Facts{Pseudonym: fmt.Sprintf("%064x", i), Sex: sexes[r.IntN(4)], BirthDate: date(1930, 94), ResearchConsent: r.IntN(5) > 0}
		if r.IntN(10) == 0 {
			f.DeathDate = date(2015, 10)
		}
		for range r.IntN(4) {
			f.Conditions = append(f.Conditions, Condition{Codes: []string{codes[r.IntN(len(codes))]}, Onset: date(2005, 19)})
		}
		for range 1 + r.IntN(6) {
			f.Encounters = append(f.Encounters, Encounter{Class: classes[r.IntN(3)], Date: date(2010, 15)})
		}
		for _, m := range []struct {
			field    pb.Field
			lo, span int64
		}{{pb.Field_FIELD_HBA1C, 450, 800}, {pb.Field_FIELD_BMI, 1600, 2500}, {pb.Field_FIELD_SBP, 95, 90}} {
			if r.IntN(10) < 7 {
				f.latest[m.field] = measurement{ok: true, value: m.lo + r.Int64N(m.span)}
			}
		}
		f.finish()
		t.patients = append(t.patients, f)
		t.byPseudonym[f.Pseudonym] = f
	}
	return t
}

// BenchmarkEvaluate100k evaluates queries over 100,000 patients, every one
// included (the worst case: include only ever removes patients).
func BenchmarkEvaluate100k(b *testing.B) {
	const n = 100_000
	t := syntheticTable(n)
	for _, bc := range []struct{ name, text string }{
		{"truth statistics", "SELECT count(), histogram(age; 0, 18, 40, 65, 80, 120), survival(C34; 30, 1825), linreg(sbp ~ age + bmi)"},
		{"the issue's diabetes question", "SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0,18,40,65,80,120) WHERE condition = 'E11' AND age >= 50 AND sex = 'female'"},
		{"count with a nested filter", "SELECT count() WHERE (condition = 'I10' OR encounter = 'IMP') AND NOT bmi < 25 AND seen BETWEEN '2015-01-01' AND '2020-12-31'"},
	} {
		q, err := query.Parse(bc.text + " AS OF '2025-01-01'")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				if _, err := Evaluate(t, q, query.DefaultLimits, func(string) bool { return true }); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/n, "ns/patient")
		})
	}
}
