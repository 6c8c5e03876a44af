package synth_test

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/synth"
)

// This file recomputes truth.json from the written FHIR alone, read back with
// node/fhir, following TRUTH.md with deliberately plain code (and other
// methods than the generator where there is a choice: Cramer's rule for the
// regression, centred sums for the variance).

var testPepper = []byte("a test alliance pepper of 32 B!!")

// seen is one Patient resource at one hospital, reduced to what TRUTH.md uses.
type seen struct {
	hospital  int
	pid       string
	consent   bool
	sex       string
	age       int
	conds     map[string]bool
	latest    map[string]*fhir.Observation // by LOINC code
	c34Onset  *time.Time
	death     *time.Time
	firstDate time.Time
}

func day(t *testing.T, d fhir.DateTime) time.Time {
	t.Helper()
	v, err := d.Day()
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func completedYears(birth, ref time.Time) int {
	age := ref.Year() - birth.Year()
	if ref.Month() < birth.Month() || (ref.Month() == birth.Month() && ref.Day() < birth.Day()) {
		age--
	}
	return age
}

func readHospital(t *testing.T, dir string, h int, ref time.Time) []*seen {
	t.Helper()
	var paths []string
	for _, f := range []string{"patients", "encounters", "conditions", "observations"} {
		paths = append(paths, filepath.Join(dir, fmt.Sprintf("hospital%d", h), f+".ndjson"))
	}
	c, err := fhir.LoadCohort(fhir.Limits{}, paths...)
	if err != nil {
		t.Fatal(err)
	}
	var out []*seen
	for _, r := range c.Patients {
		p := r.Patient
		pid, err := fhir.Pseudonym(testPepper, fhir.IdentityOf(p), []string{"national_id", "insurance", "name", "phone"})
		if err != nil {
			t.Fatalf("%s: %v", p.ID, err)
		}
		birth, err := p.BirthDate.Time()
		if err != nil {
			t.Fatal(err)
		}
		s := &seen{hospital: h, pid: pid, consent: p.ResearchConsent(), sex: p.Gender, age: completedYears(birth, ref),
			conds: map[string]bool{}, latest: map[string]*fhir.Observation{}}
		if p.DeceasedDateTime != "" {
			d := day(t, p.DeceasedDateTime)
			s.death = &d
		}
		for _, cd := range r.Conditions {
			code := cd.Code.Code(fhir.SystemICD10)
			cat, _, _ := strings.Cut(code, ".")
			s.conds[cat] = true
			if cat == "C34" {
				on := day(t, cd.OnsetDateTime)
				if s.c34Onset == nil || on.Before(*s.c34Onset) {
					s.c34Onset = &on
				}
			}
		}
		for _, o := range r.Observations {
			code := o.Code.Code(fhir.SystemLOINC)
			cur := s.latest[code]
			ti, _ := o.EffectiveDateTime.Instant()
			if cur == nil {
				s.latest[code] = o
				continue
			}
			tc, _ := cur.EffectiveDateTime.Instant()
			if ti.After(tc) || (ti.Equal(tc) && o.ID > cur.ID) {
				s.latest[code] = o
			}
		}
		for i, e := range r.Encounters {
			d := day(t, e.Period.Start)
			if i == 0 || d.Before(s.firstDate) {
				s.firstDate = d
			}
		}
		out = append(out, s)
	}
	return out
}

func scaled(t *testing.T, o *fhir.Observation, scale int64) int64 {
	t.Helper()
	v, err := o.ValueQuantity.Value.Scaled(scale)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func float(r *big.Rat) *float64 {
	f, _ := r.Float64()
	return &f
}

// recompute builds Stats over ps straight from the definitions in TRUTH.md.
func recompute(t *testing.T, ps []*seen, ref time.Time) synth.Stats {
	t.Helper()
	s := synth.Stats{
		Count:        len(ps),
		BySex:        map[string]int{"female": 0, "male": 0, "other": 0, "unknown": 0},
		ByCondition:  map[string]int{"C34": 0, "E11": 0, "E84": 0, "I10": 0, "J45": 0},
		AgeHistogram: synth.Histogram{Edges: []int{0, 18, 40, 65, 80, 120}, Counts: make([]int, 5)},
	}
	var a1c []int64
	type surv struct {
		t     int
		event bool
	}
	var survs []surv
	type row struct{ age, bmi, sbp int64 }
	var rows []row
	for _, p := range ps {
		s.BySex[p.sex]++
		for c := range s.ByCondition {
			if p.conds[c] {
				s.ByCondition[c]++
			}
		}
		for i := range 5 {
			if s.AgeHistogram.Edges[i] <= p.age && p.age < s.AgeHistogram.Edges[i+1] {
				s.AgeHistogram.Counts[i]++
			}
		}
		if o := p.latest[fhir.LOINCHbA1c]; p.conds["E11"] && o != nil {
			a1c = append(a1c, scaled(t, o, 100))
		}
		if p.conds["C34"] && p.c34Onset != nil {
			end, event := ref, false
			if p.death != nil && !p.death.After(ref) {
				end, event = *p.death, true
			}
			days := int(end.Sub(*p.c34Onset).Hours() / 24)
			if days >= 0 {
				survs = append(survs, surv{days, event})
			}
		}
		b, y := p.latest[fhir.LOINCBMI], p.latest[fhir.LOINCSystolicBP]
		if b != nil && y != nil {
			rows = append(rows, row{int64(p.age), scaled(t, b, 100), scaled(t, y, 1)})
		}
	}

	// HbA1c moments.
	m := synth.Moments{Count: len(a1c), Scale: 100}
	for _, v := range a1c {
		m.Sum += v
		m.SumSquares += v * v
	}
	if n := len(a1c); n > 0 {
		mean := big.NewRat(m.Sum, int64(n))
		m.Mean = float(new(big.Rat).Quo(mean, big.NewRat(100, 1)))
		if n > 1 {
			ss := new(big.Rat)
			for _, v := range a1c {
				d := new(big.Rat).Sub(big.NewRat(v, 1), mean)
				ss.Add(ss, d.Mul(d, d))
			}
			m.Variance = float(ss.Quo(ss, big.NewRat(int64(n-1)*100*100, 1)))
		}
	}
	s.HbA1cE11 = m

	// Kaplan–Meier.
	const width, horizon = 30, 1825
	bins := (horizon + width - 1) / width
	km := synth.KaplanMeier{BinDays: width, HorizonDays: horizon, Patients: len(survs),
		AtRisk: make([]int, bins), Events: make([]int, bins), Censored: make([]int, bins), Survival: make([]float64, bins)}
	for _, sv := range survs {
		for k := range bins {
			if sv.t >= k*width {
				km.AtRisk[k]++
			}
		}
		if sv.t < horizon {
			if sv.event {
				km.Events[sv.t/width]++
			} else {
				km.Censored[sv.t/width]++
			}
		}
	}
	prod := big.NewRat(1, 1)
	for k := range bins {
		if km.AtRisk[k] > 0 {
			prod.Mul(prod, big.NewRat(int64(km.AtRisk[k]-km.Events[k]), int64(km.AtRisk[k])))
		}
		km.Survival[k] = *float(prod)
	}
	s.SurvivalC34 = km

	// Regression by Cramer's rule.
	lr := synth.Linreg{Y: "systolic_bp", X: []string{"1", "age", "bmi"}, N: len(rows), XtX: [][]int64{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, Xty: []int64{0, 0, 0}}
	for _, r := range rows {
		x := [3]int64{1, r.age, r.bmi}
		for i := range 3 {
			for j := range 3 {
				lr.XtX[i][j] += x[i] * x[j]
			}
			lr.Xty[i] += x[i] * r.sbp
		}
		lr.Yty += r.sbp * r.sbp
	}
	det := func(m [3][3]*big.Rat) *big.Rat {
		d := new(big.Rat)
		for c := range 3 {
			term := new(big.Rat).Mul(m[0][c], new(big.Rat).Sub(
				new(big.Rat).Mul(m[1][(c+1)%3], m[2][(c+2)%3]),
				new(big.Rat).Mul(m[1][(c+2)%3], m[2][(c+1)%3])))
			d.Add(d, term)
		}
		return d
	}
	var A [3][3]*big.Rat
	for i := range 3 {
		for j := range 3 {
			A[i][j] = big.NewRat(lr.XtX[i][j], 1)
		}
	}
	D := det(A)
	lr.Coefficients = make([]*float64, 3)
	if D.Sign() != 0 {
		for c := range 3 {
			Ac := A
			for i := range 3 {
				Ac[i][c] = big.NewRat(lr.Xty[i], 1)
			}
			beta := new(big.Rat).Quo(det(Ac), D)
			if c == 2 {
				beta.Mul(beta, big.NewRat(100, 1)) // per kg/m2, not per 0.01
			}
			lr.Coefficients[c] = float(beta)
		}
	}
	s.LinregSBP = lr
	return s
}

func TestTruthMatchesAnIndependentRecomputation(t *testing.T) {
	o := synth.Options{Hospitals: 4, Patients: 500, Seed: 7}
	dir, _ := generate(t, o)
	raw, err := os.ReadFile(filepath.Join(dir, "truth.json"))
	if err != nil {
		t.Fatal(err)
	}
	var got synth.Truth
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatal(err)
	}
	ref := synth.DefaultRefDate

	var all []*seen
	hospitals := make([][]*seen, o.Hospitals)
	for h := range o.Hospitals {
		hospitals[h] = readHospital(t, dir, h, ref)
		all = append(all, hospitals[h]...)
	}
	// Contributor per pseudonym: earliest first record date, then lowest index.
	byPID := map[string][]*seen{}
	for _, s := range all {
		byPID[s.pid] = append(byPID[s.pid], s)
	}
	contributor := map[string]*seen{}
	shared := 0
	for pid, ss := range byPID {
		if len(ss) > 2 {
			t.Fatalf("pseudonym %s at %d hospitals", pid, len(ss))
		}
		if len(ss) > 1 {
			shared++
			if ss[0].hospital == ss[1].hospital {
				t.Fatalf("two patients of hospital%d share pseudonym %s", ss[0].hospital, pid)
			}
		}
		best := ss[0]
		for _, s := range ss[1:] {
			if s.firstDate.Before(best.firstDate) || (s.firstDate.Equal(best.firstDate) && s.hospital < best.hospital) {
				best = s
			}
		}
		contributor[pid] = best
	}
	if shared == 0 {
		t.Fatal("no person is seen at two hospitals: the test would not check de-duplication")
	}

	want := synth.Truth{
		Format: "medchain-synth-truth/1", Definitions: "node/synth/TRUTH.md",
		Seed: o.Seed, Hospitals: o.Hospitals, PatientsPerHospital: o.Patients, RefDate: "2025-01-01",
		Scales: synth.Scales{HbA1c: 100, BMI: 100, SystolicBP: 1, Age: 1},
	}
	var alliance []*seen
	for h, ss := range hospitals {
		f := synth.HospitalFigures{Index: h, Name: fmt.Sprintf("hospital%d", h), Patients: len(ss)}
		var local, contributed []*seen
		for _, s := range ss {
			if len(byPID[s.pid]) > 1 {
				f.SeenElsewhere++
			}
			if !s.consent {
				continue
			}
			f.Consenting++
			local = append(local, s)
			if contributor[s.pid] == s {
				contributed = append(contributed, s)
			}
		}
		f.Local = recompute(t, local, ref)
		f.Contributed = recompute(t, contributed, ref)
		alliance = append(alliance, contributed...)
		want.PerHospital = append(want.PerHospital, f)
		want.Alliance.PatientRecords += len(ss)
	}
	want.Alliance.Persons = len(byPID)
	want.Alliance.SharedPersons = shared
	want.Alliance.ConsentingPersons = len(alliance)
	want.Alliance.Stats = recompute(t, alliance, ref)

	if want.Alliance.Stats.SurvivalC34.Patients == 0 || want.Alliance.Stats.HbA1cE11.Count < 2 || want.Alliance.Stats.LinregSBP.N < 3 {
		t.Fatalf("the data set is too small to check every statistic: %+v", want.Alliance.Stats)
	}
	compare(t, "", reflect.ValueOf(want), reflect.ValueOf(got))
}

// compare reports the first differing leaf by its path, so that a failure
// says which statistic is wrong.
func compare(t *testing.T, path string, want, got reflect.Value) {
	t.Helper()
	if reflect.DeepEqual(want.Interface(), got.Interface()) {
		return
	}
	switch want.Kind() {
	case reflect.Struct:
		for i := range want.NumField() {
			compare(t, path+"."+want.Type().Field(i).Name, want.Field(i), got.Field(i))
		}
		return
	case reflect.Slice:
		if want.Len() == got.Len() {
			for i := range want.Len() {
				compare(t, fmt.Sprintf("%s[%d]", path, i), want.Index(i), got.Index(i))
			}
			return
		}
	case reflect.Pointer:
		if !want.IsNil() && !got.IsNil() {
			compare(t, path, want.Elem(), got.Elem())
			return
		}
	}
	t.Errorf("truth.json%s = %v, recomputed %v", path, fmtValue(got), fmtValue(want))
}

func fmtValue(v reflect.Value) any {
	if v.Kind() == reflect.Pointer && !v.IsNil() {
		return v.Elem().Interface()
	}
	return v.Interface()
}
