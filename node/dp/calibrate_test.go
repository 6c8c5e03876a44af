package dp

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// issueQuery is the example of issue 5.
const issueQuery = "SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0,18,40,65,80,120) " +
	"WHERE condition = 'E11' AND age >= 50 AND sex = 'female'"

func planOf(t testing.TB, text string) *query.Plan {
	t.Helper()
	q, err := query.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	p, err := query.Layout(q, query.DefaultLimits)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func figures(p *query.Plan) []query.Figure {
	var fs []query.Figure
	for _, b := range p.Blocks {
		fs = append(fs, b.Figures...)
	}
	return fs
}

func TestWeightFollowsTheStatistics(t *testing.T) {
	cases := []struct {
		name, text string
		want       int64
	}{
		{"a count is its n and the cohort count", "SELECT count()", 2},
		{"a mean adds n and sum", "SELECT mean(hba1c)", 3},
		{"a variance adds n, sum and sum_sq", "SELECT variance(hba1c)", 4},
		{"a histogram counts once whatever its bins", "SELECT histogram(age; 0,18,40,65,80,120)", 2},
		{"a survival curve counts its at-risk bins and one ending", "SELECT survival(C34; 30, 1825)", 61 + 1 + 1},
		{"a regression counts every moment", "SELECT linreg(sbp ~ age + bmi)", 6 + 3 + 1 + 1},
		{"the issue's query adds its statistics", issueQuery, 1 + 2 + 3 + 1 + 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Weight(planOf(t, tc.text))
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Fatalf("Weight = %d, want %d", got, tc.want)
			}
		})
	}
	t.Run("a histogram whose figures are not bins counts one per figure", func(t *testing.T) {
		p := &query.Plan{Blocks: []query.Block{{
			Statistic: &pb.Statistic{Kind: &pb.Statistic_Histogram{Histogram: &pb.Histogram{}}},
			Figures:   []query.Figure{{Name: "bin[0]", Bound: 1}, {Name: "odd", Bound: 1}, {Name: "bin[2]", Bound: 1}},
		}}}
		if got, err := Weight(p); err != nil || got != 3+1 {
			t.Fatalf("Weight = %d, %v; want 4", got, err)
		}
	})
}

func TestWeightRefusesBadPlans(t *testing.T) {
	cases := []struct {
		name string
		plan *query.Plan
		want string
	}{
		{"no plan", nil, "no statistic"},
		{"a plan without blocks", &query.Plan{}, "no statistic"},
		{"a block without figures", &query.Plan{Blocks: []query.Block{{}}}, "no figure"},
		{"a figure without a bound", &query.Plan{Blocks: []query.Block{{Figures: []query.Figure{{Name: "n"}}}}}, "bound 0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Weight(tc.plan)
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

func TestSigmaSquaredIsExact(t *testing.T) {
	cases := []struct {
		name      string
		rhoMicro  uint64
		sens      *big.Rat
		hospitals int
		want      *big.Rat // nil: refused
	}{
		{"Δ²/(2ρ) for one hospital", 1000, big.NewRat(8, 1), 1, big.NewRat(4000, 1)},
		{"split over two hospitals", 1000, big.NewRat(8, 1), 2, big.NewRat(2000, 1)},
		{"a rational result stays exact", 3, big.NewRat(1, 1), 7, big.NewRat(500_000, 21)},
		{"a rational sensitivity stays exact", 250_000, big.NewRat(100, 3), 1, big.NewRat(200, 3)},
		{"a generous budget is floored at the minimum share", 1_000_000, big.NewRat(1, 1), 1, big.NewRat(MinShareSigma2, 1)},
		{"no sensitivity still gets the minimum share", 1, new(big.Rat), 3, big.NewRat(MinShareSigma2, 1)},
		{"a huge sensitivity does not overflow", 1, big.NewRat(1<<62, 1), 1, new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(500_000), 62))},
		{"ρ = 0 is refused", 0, big.NewRat(1, 1), 1, nil},
		{"no hospital is refused", 10, big.NewRat(1, 1), 0, nil},
		{"a nil sensitivity is refused", 10, nil, 1, nil},
		{"a negative sensitivity is refused", 10, big.NewRat(-1, 1), 1, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := SigmaSquared(tc.rhoMicro, tc.sens, tc.hospitals)
			switch {
			case tc.want == nil && got != nil:
				t.Fatalf("SigmaSquared = %s, want a refusal (nil)", got.RatString())
			case tc.want != nil && (got == nil || got.Cmp(tc.want) != 0):
				t.Fatalf("SigmaSquared = %v, want %s", got, tc.want.RatString())
			}
		})
	}
}

func TestSharesCountTheHonestHospitals(t *testing.T) {
	cases := []struct {
		name                     string
		members, threshold, want int
	}{
		{"four members, threshold three: two shares", 4, 3, 2},
		{"threshold one trusts every member", 4, 1, 4},
		{"threshold equal to the members leaves one", 4, 4, 1},
		{"a lone member has one share", 1, 1, 1},
		{"a threshold below one counts as one", 4, 0, 4},
		{"no member still gives one share", 0, 0, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Shares(tc.members, tc.threshold); got != tc.want {
				t.Fatalf("Shares(%d, %d) = %d, want %d", tc.members, tc.threshold, got, tc.want)
			}
		})
	}
}

func TestNoiseRefusesWhatItCannotCalibrate(t *testing.T) {
	p := planOf(t, issueQuery)
	cases := []struct {
		name      string
		plan      *query.Plan
		rhoMicro  uint64
		hospitals int
		want      string
	}{
		{"a dp_off query draws no noise", p, 0, 2, "dp_off"},
		{"no hospital is refused", p, 1000, 0, "0 hospitals"},
		{"no plan is refused", nil, 1000, 2, "no statistic"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := Noise(tc.plan, tc.rhoMicro, tc.hospitals); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Noise: err = %v, want ErrInvalid saying %q", err, tc.want)
			}
			if _, err := CohortNoise(tc.plan, tc.rhoMicro, tc.hospitals); !errors.Is(err, ErrInvalid) {
				t.Fatalf("CohortNoise: err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestNoiseGivesOneValuePerFigure(t *testing.T) {
	p := planOf(t, issueQuery+" AND hba1c > 6")
	noise, err := Noise(p, 500_000, 2)
	if err != nil {
		t.Fatal(err)
	}
	if want := len(figures(p)); len(noise) != want {
		t.Fatalf("%d noise values for %d figures", len(noise), want)
	}
	t.Run("and a wide figure splits with its noise on the whole value", func(t *testing.T) {
		v := make([]int64, p.Slots)
		for i, f := range figures(p) {
			sum := f.Bound * 1000 // what a hospital of 1000 extreme patients would sum
			f.Split(v, sum+noise[i])
			got, err := f.Join(v)
			if err != nil || got != sum+noise[i] {
				t.Fatalf("figure %s: Join = %d, %v; want %d", f.Name, got, err, sum+noise[i])
			}
		}
	})
}

// TestSharesSumToTheDescribedNoise plays four hospitals that each add
// their share to every figure and to the cohort count, many times, and
// checks the alliance sum's noise against Describe, figure by figure.
func TestSharesSumToTheDescribedNoise(t *testing.T) {
	p := planOf(t, "SELECT count(), mean(age), histogram(age; 0, 50, 130)")
	const rho, hospitals, members, runs = 2000, 2, 4, 3000
	r, err := Describe(p, rho, hospitals, members)
	if err != nil {
		t.Fatal(err)
	}
	fs := figures(p)
	sums := make([][]float64, len(fs)+1) // the last is the cohort count
	for range runs {
		total := make([]float64, len(fs)+1)
		for range members {
			n, err := Noise(p, rho, hospitals)
			if err != nil {
				t.Fatal(err)
			}
			c, err := CohortNoise(p, rho, hospitals)
			if err != nil {
				t.Fatal(err)
			}
			for i, x := range n {
				total[i] += float64(x)
			}
			total[len(fs)] += float64(c)
		}
		for i := range total {
			sums[i] = append(sums[i], total[i])
		}
	}
	for i := range sums {
		name, sd := "cohort", r.Cohort
		if i < len(fs) {
			name, sd = fs[i].Name, r.Figures[i].StdDev
		}
		t.Run("the noise of "+name+" has the stated deviation", func(t *testing.T) {
			// Mean zero is known; Σx²/n estimates σ² with variance 2σ⁴/n
			// (the sum of discrete Gaussians of parameter ≥ 4 is Gaussian to
			// within e^{−4π²} in its moments).
			var s1, s2 float64
			for _, x := range sums[i] {
				s1 += x
				s2 += x * x
			}
			v := sd * sd
			if bound := sixSigma * sd / math.Sqrt(runs); math.Abs(s1/runs) > bound {
				t.Errorf("mean %.4g, want 0 ± %.3g", s1/runs, bound)
			}
			if bound := sixSigma * v * math.Sqrt(2.0/runs); math.Abs(s2/runs-v) > bound {
				t.Errorf("variance %.6g, want %.6g ± %.3g", s2/runs, v, bound)
			}
		})
	}
}

func TestNoiseScalesWithEachFiguresBound(t *testing.T) {
	// Every figure divided by its bound gets the same noise: the
	// calibration spends the budget evenly over the normalised release.
	p := planOf(t, "SELECT variance(hba1c)")
	c, err := calibrate(p, 1, 3)
	if err != nil {
		t.Fatal(err)
	}
	base := new(big.Rat).Set(c.Cohort) // bound 1
	for i, v := range c.Figures {
		b := big.NewRat(c.Bounds[i], 1)
		want := new(big.Rat).Mul(base, new(big.Rat).Mul(b, b))
		if v.Cmp(want) != 0 {
			t.Errorf("figure %s: σ² = %s, want bound² × %s = %s", c.Names[i], v.RatString(), base.RatString(), want.RatString())
		}
	}
	// And the normalised release is exactly ρ-zCDP: Σ over figures of
	// Bound²/(2·hospitals·σ²_share) plus the cohort's, for the worst
	// patient (one per figure here), equals ρ.
	rho := new(big.Rat)
	add := func(bound int64, share *big.Rat) {
		x := new(big.Rat).SetInt64(bound * bound)
		x.Quo(x, new(big.Rat).Mul(big.NewRat(2*3, 1), share))
		rho.Add(rho, x)
	}
	for i, v := range c.Figures {
		add(c.Bounds[i], v)
	}
	add(1, c.Cohort)
	if want := big.NewRat(1, MicroPerUnit); rho.Cmp(want) != 0 {
		t.Fatalf("the release spends ρ = %s, want %s", rho.RatString(), want.RatString())
	}
}

func TestCheckRange(t *testing.T) {
	p := planOf(t, issueQuery)
	cases := []struct {
		name               string
		rhoMicro           uint64
		hospitals, members int
		lim                query.Limits
		want               string // "" accepts
	}{
		{"the issue's query fits the default range even at one millionth of ρ", 1, 2, 4, query.DefaultLimits, ""},
		{"a typical budget fits", 500_000, 2, 4, query.DefaultLimits, ""},
		{"a tiny plaintext range overflows", 1, 2, 4, query.Limits{MaxSlots: 8192, SlotBound: 1000, MaxPatients: 1 << 24}, "overflow"},
		{"fewer members than shares is refused", 1000, 3, 2, query.DefaultLimits, "cannot carry"},
		{"limits without a slot bound are refused", 1000, 2, 4, query.Limits{}, "slot bound"},
		{"a dp_off query has no noise to check", 0, 2, 4, query.DefaultLimits, "dp_off"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := CheckRange(p, tc.rhoMicro, tc.hospitals, tc.members, tc.lim)
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrInvalid saying %q", err, tc.want)
			}
		})
	}
}

// TestCheckRangeAcceptsTheLargestReleases: with the default limits and
// 100 members, the noisiest releases the limits allow fit at ρ = 10⁻⁶:
// 8192 plain figures of the largest plain bound (2^16), or 4096 wide
// figures of the largest wide bound (2^48), with a single share.
func TestCheckRangeAcceptsTheLargestReleases(t *testing.T) {
	for _, tc := range []struct {
		name  string
		n     int
		bound int64
		wide  bool
	}{
		{"every slot a plain figure of bound 2^16", 8192, 1 << 16, false},
		{"every slot pair a wide figure of bound 2^48", 4096, 1 << 48, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := query.Block{Statistic: &pb.Statistic{Kind: &pb.Statistic_Linreg{Linreg: &pb.Linreg{}}}}
			for range tc.n {
				b.Figures = append(b.Figures, query.Figure{Name: "xtx", Bound: tc.bound, Wide: tc.wide})
			}
			if err := CheckRange(&query.Plan{Blocks: []query.Block{b}}, 1, 1, 100, query.DefaultLimits); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestFormatMicro(t *testing.T) {
	for _, tc := range []struct {
		m    uint64
		want string
	}{{0, "0"}, {1, "0.000001"}, {500_000, "0.5"}, {1_000_000, "1"}, {12_345_678, "12.345678"}} {
		t.Run("ρ of "+tc.want+" reads as a decimal", func(t *testing.T) {
			if got := formatMicro(tc.m); got != tc.want {
				t.Fatalf("formatMicro(%d) = %q, want %q", tc.m, got, tc.want)
			}
		})
	}
}
