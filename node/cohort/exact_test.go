package cohort_test

import (
	"fmt"
	"math/big"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/node/cohort"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/synth"
)

// The acceptance of issue 5 rests on this file: the figures every hospital
// evaluates from its own export, summed over the alliance, must give
// truth.json's statistics exactly.

var allianceP = []byte("the alliance pepper of this test")

// truthQueries are queries asking exactly for truth.json's statistics
// (TRUTH.md): everything but by_sex and by_condition in two queries, and a
// count per sex and per condition.
func truthQueries(t testing.TB, ref string) (main, a1c *pb.Query, bySex, byCondition map[string]*pb.Query) {
	t.Helper()
	parse := func(text string) *pb.Query {
		q, err := query.Parse(text + " AS OF '" + ref + "'")
		if err != nil {
			t.Fatal(err)
		}
		return q
	}
	main = parse(fmt.Sprintf("SELECT count(), histogram(age; 0, 18, 40, 65, 80, 120), survival(C34; %d, %d), linreg(sbp ~ age + bmi)",
		synth.KMBinDays, synth.KMHorizonDays))
	// hba1c_e11: patients with E11 and at least one HbA1c; mean and
	// variance count only patients with a value.
	a1c = parse("SELECT mean(hba1c), variance(hba1c) WHERE condition = 'E11'")
	bySex, byCondition = map[string]*pb.Query{}, map[string]*pb.Query{}
	for _, s := range synth.Sexes {
		bySex[s] = parse("SELECT count() WHERE sex = '" + s + "'")
	}
	for _, c := range synth.Categories {
		byCondition[c] = parse("SELECT count() WHERE condition = '" + c + "'")
	}
	return main, a1c, bySex, byCondition
}

// readHospital reads hospital h's four files of a synth folder.
func readHospital(t testing.TB, dir string, h int) *fhir.Set {
	t.Helper()
	all := &fhir.Set{}
	for _, f := range []string{"patients", "encounters", "conditions", "observations"} {
		s, err := fhir.ReadFile(filepath.Join(dir, fmt.Sprintf("hospital%d", h), f+".ndjson"), fhir.Limits{})
		if err != nil {
			t.Fatal(err)
		}
		if err := all.Merge(s); err != nil {
			t.Fatal(err)
		}
	}
	return all
}

// contributors decides, from the hospitals' tables, which hospital counts
// each person: the earliest first record date, ties to the lowest index.
func contributors(tables []*cohort.Table) map[string]int {
	best := map[string]int{}
	for h, tab := range tables {
		for _, f := range tab.Patients() {
			b, seen := best[f.Pseudonym]
			if !seen || f.FirstRecordDate < firstOf(tables[b], f.Pseudonym) {
				best[f.Pseudonym] = h
			}
		}
	}
	return best
}

func firstOf(tab *cohort.Table, pseudonym string) uint32 {
	f, _ := tab.Patient(pseudonym)
	return f.FirstRecordDate
}

// evaluate returns hospital h's vector for q.
func evaluate(t testing.TB, tab *cohort.Table, q *pb.Query, include func(string) bool) []int64 {
	t.Helper()
	v, err := cohort.Evaluate(tab, q, query.DefaultLimits, include)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// joined reads the figures of a summed vector back by name ("<statistic
// number>:<figure>").
func joined(t testing.TB, q *pb.Query, v []int64) map[string]int64 {
	t.Helper()
	plan, err := query.Layout(q, query.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for i, b := range plan.Blocks {
		for _, f := range b.Figures {
			s, err := f.Join(v)
			if err != nil {
				t.Fatal(err)
			}
			out[fmt.Sprintf("%d:%s", i+1, f.Name)] = s
		}
	}
	return out
}

func rat(r *big.Rat) *float64 {
	f, _ := r.Float64()
	return &f
}

// statsOf rebuilds truth.json's Stats from the figures of the truth
// queries, as a researcher would from the decrypted sums, with TRUTH.md's
// formulas for the reals.
func statsOf(t testing.TB, main, a1c map[string]int64, bySex, byCondition map[string]map[string]int64) synth.Stats {
	t.Helper()
	s := synth.Stats{
		Count:        int(main["1:n"]),
		BySex:        map[string]int{},
		ByCondition:  map[string]int{},
		AgeHistogram: synth.Histogram{Edges: synth.AgeEdges},
	}
	for k, f := range bySex {
		s.BySex[k] = int(f["1:n"])
	}
	for k, f := range byCondition {
		s.ByCondition[k] = int(f["1:n"])
	}
	for i := range len(synth.AgeEdges) - 1 {
		s.AgeHistogram.Counts = append(s.AgeHistogram.Counts, int(main[fmt.Sprintf("2:bin[%d]", i)]))
	}

	m := synth.Moments{Count: int(a1c["2:n"]), Scale: synth.ScaleHbA1c, Sum: a1c["2:sum"], SumSquares: a1c["2:sum_sq"]}
	if a1c["1:n"] != a1c["2:n"] || a1c["1:sum"] != a1c["2:sum"] {
		t.Fatalf("mean and variance of one field disagree: %v", a1c)
	}
	if n := int64(m.Count); n > 0 {
		m.Mean = rat(big.NewRat(m.Sum, n*m.Scale))
		if n > 1 {
			num := new(big.Int).Sub(new(big.Int).Mul(big.NewInt(n), big.NewInt(m.SumSquares)), new(big.Int).Mul(big.NewInt(m.Sum), big.NewInt(m.Sum)))
			den := new(big.Int).Mul(big.NewInt(n*(n-1)), big.NewInt(m.Scale*m.Scale))
			m.Variance = rat(new(big.Rat).SetFrac(num, den))
		}
	}
	s.HbA1cE11 = m

	km := synth.KaplanMeier{BinDays: synth.KMBinDays, HorizonDays: synth.KMHorizonDays}
	prod := big.NewRat(1, 1)
	for k := range synth.KMBins {
		ar, ev, ce := main[fmt.Sprintf("3:at_risk[%d]", k)], main[fmt.Sprintf("3:events[%d]", k)], main[fmt.Sprintf("3:censored[%d]", k)]
		km.AtRisk, km.Events, km.Censored = append(km.AtRisk, int(ar)), append(km.Events, int(ev)), append(km.Censored, int(ce))
		if ar > 0 {
			prod.Mul(prod, big.NewRat(ar-ev, ar))
		}
		km.Survival = append(km.Survival, *rat(prod))
	}
	km.Patients = km.AtRisk[0]
	s.SurvivalC34 = km

	lr := synth.Linreg{Y: "systolic_bp", X: []string{"1", "age", "bmi"}, N: int(main["4:xtx[0][0]"]), Yty: main["4:yty"]}
	lr.XtX = make([][]int64, 3)
	for i := range 3 {
		lr.XtX[i] = make([]int64, 3)
		for j := range 3 {
			lr.XtX[i][j] = main[fmt.Sprintf("4:xtx[%d][%d]", min(i, j), max(i, j))]
		}
		lr.Xty = append(lr.Xty, main[fmt.Sprintf("4:xty[%d]", i)])
	}
	lr.Coefficients = solve(lr.XtX, lr.Xty, []int64{1, synth.ScaleAge, synth.ScaleBMI})
	s.LinregSBP = lr
	return s
}

// solve returns β with A β = b exactly (Gauss–Jordan over rationals), each
// times its unit and rounded once; all nil when A is singular.
func solve(A [][]int64, b []int64, units []int64) []*float64 {
	n := len(b)
	m := make([][]*big.Rat, n)
	for i := range n {
		for j := range n {
			m[i] = append(m[i], big.NewRat(A[i][j], 1))
		}
		m[i] = append(m[i], big.NewRat(b[i], 1))
	}
	for c := range n {
		p := c
		for p < n && m[p][c].Sign() == 0 {
			p++
		}
		if p == n {
			return make([]*float64, n)
		}
		m[c], m[p] = m[p], m[c]
		for r := range n {
			if r == c || m[r][c].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Quo(m[r][c], m[c][c])
			for j := c; j <= n; j++ {
				m[r][j].Sub(m[r][j], new(big.Rat).Mul(f, m[c][j]))
			}
		}
	}
	out := make([]*float64, n)
	for i := range n {
		out[i] = rat(new(big.Rat).Mul(new(big.Rat).Quo(m[i][n], m[i][i]), big.NewRat(units[i], 1)))
	}
	return out
}

// allianceFigures evaluates the truth queries at every hospital with
// include(h) and returns each hospital's Stats and the Stats of the summed
// vectors.
func allianceFigures(t testing.TB, tables []*cohort.Table, ref string, include func(h int) func(string) bool) (per []synth.Stats, total synth.Stats) {
	t.Helper()
	main, a1c, bySex, byCond := truthQueries(t, ref)
	sum := func(q *pb.Query, each func(h int, m map[string]int64)) map[string]int64 {
		var acc []int64
		for h, tab := range tables {
			v := evaluate(t, tab, q, include(h))
			each(h, joined(t, q, v))
			if acc == nil {
				acc = make([]int64, len(v))
			}
			for i := range v {
				acc[i] += v[i]
			}
		}
		return joined(t, q, acc)
	}
	type hospitalFigures struct {
		main, a1c          map[string]int64
		bySex, byCondition map[string]map[string]int64
	}
	hs := make([]hospitalFigures, len(tables))
	for h := range hs {
		hs[h] = hospitalFigures{bySex: map[string]map[string]int64{}, byCondition: map[string]map[string]int64{}}
	}
	allMain := sum(main, func(h int, m map[string]int64) { hs[h].main = m })
	allA1c := sum(a1c, func(h int, m map[string]int64) { hs[h].a1c = m })
	allSex, allCond := map[string]map[string]int64{}, map[string]map[string]int64{}
	for k, q := range bySex {
		allSex[k] = sum(q, func(h int, m map[string]int64) { hs[h].bySex[k] = m })
	}
	for k, q := range byCond {
		allCond[k] = sum(q, func(h int, m map[string]int64) { hs[h].byCondition[k] = m })
	}
	for _, f := range hs {
		per = append(per, statsOf(t, f.main, f.a1c, f.bySex, f.byCondition))
	}
	return per, statsOf(t, allMain, allA1c, allSex, allCond)
}

func TestAllianceFiguresEqualTruthExactly(t *testing.T) {
	d, err := synth.Generate(synth.Options{Hospitals: 4, Patients: 150, Seed: 20250101})
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "synth")
	if _, err := d.Write(dir); err != nil {
		t.Fatal(err)
	}
	truth := d.Truth()
	if truth.Alliance.SharedPersons == 0 || truth.Alliance.Stats.SurvivalC34.Patients == 0 || truth.Alliance.Stats.HbA1cE11.Count < 2 {
		t.Fatalf("the cohort does not exercise de-duplication, survival and variance: %+v", truth.Alliance)
	}
	tables := make([]*cohort.Table, truth.Hospitals)
	for h := range tables {
		if tables[h], err = cohort.FromFHIR(readHospital(t, dir, h), allianceP, nil); err != nil {
			t.Fatal(err)
		}
	}
	contributor := contributors(tables)
	consents := func(h int, p string) bool { f, _ := tables[h].Patient(p); return f.ResearchConsent }

	t.Run("each hospital's contribution and their sum equal truth.json's contributed and alliance statistics", func(t *testing.T) {
		per, total := allianceFigures(t, tables, truth.RefDate, func(h int) func(string) bool {
			return func(p string) bool { return consents(h, p) && contributor[p] == h }
		})
		for h, s := range per {
			if !reflect.DeepEqual(s, truth.PerHospital[h].Contributed) {
				t.Errorf("hospital %d contributes\n%+v\ntruth.json says\n%+v", h, s, truth.PerHospital[h].Contributed)
			}
		}
		if !reflect.DeepEqual(total, truth.Alliance.Stats) {
			t.Fatalf("alliance figures\n%+v\ntruth.json says\n%+v", total, truth.Alliance.Stats)
		}
		if total.Count != truth.Alliance.ConsentingPersons {
			t.Fatalf("count %d, consenting persons %d", total.Count, truth.Alliance.ConsentingPersons)
		}
	})
	t.Run("each hospital's consenting patients give truth.json's local statistics", func(t *testing.T) {
		per, _ := allianceFigures(t, tables, truth.RefDate, func(h int) func(string) bool {
			return func(p string) bool { return consents(h, p) }
		})
		for h, s := range per {
			if !reflect.DeepEqual(s, truth.PerHospital[h].Local) {
				t.Errorf("hospital %d local\n%+v\ntruth.json says\n%+v", h, s, truth.PerHospital[h].Local)
			}
		}
	})
	t.Run("the tables hold every Patient resource once per person and hospital", func(t *testing.T) {
		n := 0
		for h, tab := range tables {
			if tab.Len() != truth.PerHospital[h].Patients {
				t.Errorf("hospital %d: %d patients, truth.json says %d", h, tab.Len(), truth.PerHospital[h].Patients)
			}
			n += tab.Len()
		}
		if len(contributor) != truth.Alliance.Persons || n != truth.Alliance.PatientRecords {
			t.Fatalf("%d persons in %d patients; truth.json says %d in %d", len(contributor), n, truth.Alliance.Persons, truth.Alliance.PatientRecords)
		}
	})
}
