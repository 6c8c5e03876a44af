package synth

import (
	"math/big"
	"slices"
	"strings"
)

// Definitions of truth.json (TRUTH.md explains each).
const (
	TruthFormat = "medchain-synth-truth/1"

	ScaleHbA1c      = 100 // HbA1c in % × 100
	ScaleBMI        = 100 // BMI in kg/m2 × 100
	ScaleSystolicBP = 1   // systolic BP in mmHg
	ScaleAge        = 1   // age in completed years

	KMBinDays     = 30
	KMHorizonDays = 5 * 365
)

// Fixed lists of truth.json, in their order.
var (
	AgeEdges   = []int{0, 18, 40, 65, 80, 120}
	Categories = []string{"C34", "E11", "E84", "I10", "J45"}
	Sexes      = []string{"female", "male", "other", "unknown"}
)

// KMBins is the number of Kaplan–Meier bins: ⌈KMHorizonDays / KMBinDays⌉.
const KMBins = (KMHorizonDays + KMBinDays - 1) / KMBinDays

// Truth is truth.json.
type Truth struct {
	Format              string            `json:"format"`
	Definitions         string            `json:"definitions"`
	Seed                int64             `json:"seed"`
	Hospitals           int               `json:"hospitals"`
	PatientsPerHospital int               `json:"patients_per_hospital"`
	RefDate             string            `json:"ref_date"`
	Scales              Scales            `json:"scales"`
	Alliance            Alliance          `json:"alliance"`
	PerHospital         []HospitalFigures `json:"per_hospital"`
}

// Scales are the fixed-point factors of the integer sums.
type Scales struct {
	HbA1c      int64 `json:"hba1c"`
	BMI        int64 `json:"bmi"`
	SystolicBP int64 `json:"systolic_bp"`
	Age        int64 `json:"age"`
}

// Alliance holds the alliance-wide figures: every person counted once, by
// the hospital with the earliest record (TRUTH.md, "de-duplication").
type Alliance struct {
	PatientRecords    int   `json:"patient_records"`
	Persons           int   `json:"persons"`
	SharedPersons     int   `json:"shared_persons"`
	ConsentingPersons int   `json:"consenting_persons"`
	Stats             Stats `json:"stats"`
}

// HospitalFigures are one hospital's figures.
type HospitalFigures struct {
	Index         int    `json:"index"`
	Name          string `json:"name"`
	Patients      int    `json:"patients"`
	Consenting    int    `json:"consenting"`
	SeenElsewhere int    `json:"seen_elsewhere"`
	// Local: all of this hospital's consenting patients.
	Local Stats `json:"local"`
	// Contributed: the consenting patients this hospital contributes under
	// the de-duplication rule; the sum over hospitals gives Alliance.Stats.
	Contributed Stats `json:"contributed"`
}

// Stats are the research statistics over a set of consenting patients.
type Stats struct {
	Count        int            `json:"count"`
	BySex        map[string]int `json:"by_sex"`
	ByCondition  map[string]int `json:"by_condition"`
	AgeHistogram Histogram      `json:"age_histogram"`
	HbA1cE11     Moments        `json:"hba1c_e11"`
	SurvivalC34  KaplanMeier    `json:"survival_c34"`
	LinregSBP    Linreg         `json:"linreg_sbp"`
}

// Histogram counts values v with Edges[i] ≤ v < Edges[i+1] in Counts[i].
type Histogram struct {
	Edges  []int `json:"edges"`
	Counts []int `json:"counts"`
}

// Moments of a fixed-point variable: Sum = Σ v×Scale, SumSquares = Σ (v×Scale)².
type Moments struct {
	Count      int      `json:"count"`
	Scale      int64    `json:"scale"`
	Sum        int64    `json:"sum"`
	SumSquares int64    `json:"sum_squares"`
	Mean       *float64 `json:"mean"`     // null when Count = 0
	Variance   *float64 `json:"variance"` // sample variance (n−1); null when Count < 2
}

// KaplanMeier is a binned survival table.
type KaplanMeier struct {
	BinDays     int       `json:"bin_days"`
	HorizonDays int       `json:"horizon_days"`
	Patients    int       `json:"patients"`
	AtRisk      []int     `json:"at_risk"`
	Events      []int     `json:"events"`
	Censored    []int     `json:"censored"`
	Survival    []float64 `json:"survival"`
}

// Linreg is y ~ X for X = (1, age, bmi×100), y = systolic BP.
type Linreg struct {
	Y            string     `json:"y"`
	X            []string   `json:"x"`
	N            int        `json:"n"`
	XtX          [][]int64  `json:"xtx"`
	Xty          []int64    `json:"xty"`
	Yty          int64      `json:"yty"`
	Coefficients []*float64 `json:"coefficients"` // intercept, per year, per kg/m2; null when XᵀX is singular
}

// facts are what the statistics need of one patient at one hospital.
type facts struct {
	Sex        string
	Age        int // completed years at the reference date
	Consent    bool
	Categories map[string]bool
	HbA1c      int64 // latest, × ScaleHbA1c
	HasHbA1c   bool
	SBP        int64 // latest, × ScaleSystolicBP
	HasSBP     bool
	BMI        int64 // latest, × ScaleBMI
	HasBMI     bool
	C34Onset   day // earliest C34 onset
	HasC34     bool
	Dead       bool
	Death      day
}

// newStats computes Stats over fs (already filtered to consenting
// patients) at the reference date ref.
func newStats(fs []*facts, ref day) Stats {
	s := Stats{
		Count:        len(fs),
		BySex:        map[string]int{},
		ByCondition:  map[string]int{},
		AgeHistogram: Histogram{Edges: AgeEdges, Counts: make([]int, len(AgeEdges)-1)},
		HbA1cE11:     Moments{Scale: ScaleHbA1c},
		SurvivalC34: KaplanMeier{BinDays: KMBinDays, HorizonDays: KMHorizonDays,
			AtRisk: make([]int, KMBins), Events: make([]int, KMBins), Censored: make([]int, KMBins)},
		LinregSBP: Linreg{Y: "systolic_bp", X: []string{"1", "age", "bmi"}, XtX: [][]int64{{0, 0, 0}, {0, 0, 0}, {0, 0, 0}}, Xty: []int64{0, 0, 0}},
	}
	for _, k := range Sexes {
		s.BySex[k] = 0
	}
	for _, k := range Categories {
		s.ByCondition[k] = 0
	}
	for _, f := range fs {
		s.BySex[f.Sex]++
		for _, k := range Categories {
			if f.Categories[k] {
				s.ByCondition[k]++
			}
		}
		for i := 0; i+1 < len(AgeEdges); i++ {
			if AgeEdges[i] <= f.Age && f.Age < AgeEdges[i+1] {
				s.AgeHistogram.Counts[i]++
			}
		}
		if f.Categories["E11"] && f.HasHbA1c {
			s.HbA1cE11.Count++
			s.HbA1cE11.Sum += f.HbA1c
			s.HbA1cE11.SumSquares += f.HbA1c * f.HbA1c
		}
		if f.HasC34 {
			end, event := ref, false
			if f.Dead && f.Death <= ref {
				end, event = f.Death, true
			}
			t := int(end - f.C34Onset)
			if t >= 0 {
				s.SurvivalC34.Patients++
				if t >= KMHorizonDays {
					t, event = KMHorizonDays, false
				}
				for k := 0; k < KMBins && k*KMBinDays <= t; k++ {
					s.SurvivalC34.AtRisk[k]++
				}
				if t < KMHorizonDays {
					if event {
						s.SurvivalC34.Events[t/KMBinDays]++
					} else {
						s.SurvivalC34.Censored[t/KMBinDays]++
					}
				}
			}
		}
		if f.HasSBP && f.HasBMI {
			x := []int64{1, int64(f.Age) * ScaleAge, f.BMI}
			lr := &s.LinregSBP
			lr.N++
			for i := range 3 {
				for j := range 3 {
					lr.XtX[i][j] += x[i] * x[j]
				}
				lr.Xty[i] += x[i] * f.SBP
			}
			lr.Yty += f.SBP * f.SBP
		}
	}
	s.HbA1cE11.Mean, s.HbA1cE11.Variance = meanVariance(s.HbA1cE11)
	s.SurvivalC34.Survival = survival(s.SurvivalC34)
	s.LinregSBP.Coefficients = solve(s.LinregSBP)
	return s
}

func ratFloat(r *big.Rat) *float64 {
	f, _ := r.Float64()
	return &f
}

func meanVariance(m Moments) (mean, variance *float64) {
	n := int64(m.Count)
	if n == 0 {
		return nil, nil
	}
	mean = ratFloat(new(big.Rat).SetFrac64(m.Sum, n*m.Scale))
	if n < 2 {
		return mean, nil
	}
	// (n·Σv² − (Σv)²) / (n(n−1)·scale²)
	num := new(big.Int).Mul(big.NewInt(n), big.NewInt(m.SumSquares))
	num.Sub(num, new(big.Int).Mul(big.NewInt(m.Sum), big.NewInt(m.Sum)))
	den := new(big.Int).Mul(big.NewInt(n*(n-1)), big.NewInt(m.Scale*m.Scale))
	return mean, ratFloat(new(big.Rat).SetFrac(num, den))
}

// survival is S(k) = Π_{j≤k} (1 − events_j / at_risk_j), exactly, then
// rounded to float64; a bin with no one at risk leaves S unchanged.
func survival(km KaplanMeier) []float64 {
	out := make([]float64, len(km.AtRisk))
	s := big.NewRat(1, 1)
	for k := range km.AtRisk {
		if km.AtRisk[k] > 0 {
			s.Mul(s, big.NewRat(int64(km.AtRisk[k]-km.Events[k]), int64(km.AtRisk[k])))
		}
		out[k], _ = s.Float64()
	}
	return out
}

// solve returns β with XᵀX β = Xᵀy in natural units (the BMI coefficient
// multiplied back by ScaleBMI), by exact Gauss–Jordan elimination.
func solve(lr Linreg) []*float64 {
	const n = 3
	a := make([][]*big.Rat, n)
	for i := range n {
		a[i] = make([]*big.Rat, n+1)
		for j := range n {
			a[i][j] = new(big.Rat).SetInt64(lr.XtX[i][j])
		}
		a[i][n] = new(big.Rat).SetInt64(lr.Xty[i])
	}
	for col := range n {
		p := -1
		for r := col; r < n; r++ {
			if a[r][col].Sign() != 0 {
				p = r
				break
			}
		}
		if p < 0 {
			return []*float64{nil, nil, nil}
		}
		a[col], a[p] = a[p], a[col]
		inv := new(big.Rat).Inv(a[col][col])
		for j := col; j <= n; j++ {
			a[col][j].Mul(a[col][j], inv)
		}
		for r := range n {
			if r == col || a[r][col].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(a[r][col])
			for j := col; j <= n; j++ {
				a[r][j].Sub(a[r][j], new(big.Rat).Mul(f, a[col][j]))
			}
		}
	}
	units := []int64{1, ScaleAge, ScaleBMI}
	out := make([]*float64, n)
	for i := range n {
		out[i] = ratFloat(new(big.Rat).Mul(a[i][n], new(big.Rat).SetInt64(units[i])))
	}
	return out
}

// contributor returns the hospital that counts a person seen at several:
// the earliest first-encounter date, ties to the lowest index.
func contributor(firsts map[int]day) int {
	best := -1
	for h, d := range firsts {
		if best < 0 || d < firsts[best] || (d == firsts[best] && h < best) {
			best = h
		}
	}
	return best
}

// factsOf computes the facts of a generated patient.
func factsOf(pt *patient, ref day) *facts {
	p := pt.person
	f := &facts{Sex: p.sex, Age: p.birth.ageAt(ref), Consent: p.consent == 1, Categories: map[string]bool{}, Dead: p.dead, Death: p.death}
	for _, c := range pt.conditions {
		f.Categories[c.category] = true
		if c.category == "C34" && (!f.HasC34 || c.onset < f.C34Onset) {
			f.C34Onset, f.HasC34 = c.onset, true
		}
	}
	var latest [3]*observation
	for i := range pt.observations {
		o := &pt.observations[i]
		k := slices.Index([]string{loincA1c, loincSBP, loincBMI}, o.code)
		if l := latest[k]; l == nil || o.at > l.at || (o.at == l.at && (o.atMin > l.atMin || (o.atMin == l.atMin && strings.Compare(o.id, l.id) > 0))) {
			latest[k] = o
		}
	}
	if o := latest[0]; o != nil {
		f.HbA1c, f.HasHbA1c = o.value*ScaleHbA1c/o.scale, true
	}
	if o := latest[1]; o != nil {
		f.SBP, f.HasSBP = o.value*ScaleSystolicBP/o.scale, true
	}
	if o := latest[2]; o != nil {
		f.BMI, f.HasBMI = o.value*ScaleBMI/o.scale, true
	}
	return f
}

func computeTruth(d *Dataset) *Truth {
	ref := dayOf(d.Options.RefDate)
	t := &Truth{
		Format:              TruthFormat,
		Definitions:         "node/synth/TRUTH.md",
		Seed:                d.Options.Seed,
		Hospitals:           d.Options.Hospitals,
		PatientsPerHospital: d.Options.Patients,
		RefDate:             ref.String(),
		Scales:              Scales{HbA1c: ScaleHbA1c, BMI: ScaleBMI, SystolicBP: ScaleSystolicBP, Age: ScaleAge},
	}
	firsts := map[*person]map[int]day{}
	for _, h := range d.Hospitals {
		for _, pt := range h.patients {
			if firsts[pt.person] == nil {
				firsts[pt.person] = map[int]day{}
			}
			firsts[pt.person][h.Index] = pt.encounters[0].start // encounters are sorted by start
		}
	}
	var alliance []*facts
	for _, h := range d.Hospitals {
		fig := HospitalFigures{Index: h.Index, Name: h.Name, Patients: len(h.patients)}
		var local, contributed []*facts
		for _, pt := range h.patients {
			f := factsOf(pt, ref)
			if pt.person.second >= 0 {
				fig.SeenElsewhere++
			}
			if !f.Consent {
				continue
			}
			fig.Consenting++
			local = append(local, f)
			if contributor(firsts[pt.person]) == h.Index {
				contributed = append(contributed, f)
			}
		}
		fig.Local = newStats(local, ref)
		fig.Contributed = newStats(contributed, ref)
		alliance = append(alliance, contributed...)
		t.PerHospital = append(t.PerHospital, fig)
		t.Alliance.PatientRecords += len(h.patients)
	}
	t.Alliance.Persons = len(d.persons)
	for _, p := range d.persons {
		if p.second >= 0 {
			t.Alliance.SharedPersons++
		}
	}
	t.Alliance.ConsentingPersons = len(alliance)
	t.Alliance.Stats = newStats(alliance, ref)
	return t
}
