package dp

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

func TestDescribe(t *testing.T) {
	p := planOf(t, "SELECT count(), mean(age)")
	t.Run("a dp_off result is exact and says so", func(t *testing.T) {
		r, err := Describe(p, 0, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Exact || r.Rho != 0 || r.Epsilon != 0 || r.Cohort != 0 || len(r.Figures) != 3 {
			t.Fatalf("report %+v, want an exact one with three noiseless figures", r)
		}
		for _, f := range r.Figures {
			if f.StdDev != 0 {
				t.Fatalf("figure %s has noise %g in a dp_off result", f.Name, f.StdDev)
			}
		}
	})
	t.Run("each figure's deviation is its bound times the unit's", func(t *testing.T) {
		// W = 1 + 2 + 1 = 4; at ρ = 0.001 a unit figure's σ² is
		// 4/(2·0.001) = 2000 in all, 1000 per share, so four contributions
		// sum to 4000.
		r, err := Describe(p, 1000, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		if r.Exact || r.Weight != 4 || r.Note != "" {
			t.Fatalf("report %+v, want a noisy one of weight 4 and no note", r)
		}
		unit := math.Sqrt(4000)
		want := []FigureNoise{{0, "n", 1, unit}, {1, "n", 1, unit}, {1, "sum", 130, 130 * unit}}
		for i, f := range r.Figures {
			if f.Statistic != want[i].Statistic || f.Name != want[i].Name || f.Bound != want[i].Bound || math.Abs(f.StdDev-want[i].StdDev) > 1e-9*want[i].StdDev {
				t.Errorf("figure %d: %+v, want %+v", i, f, want[i])
			}
		}
		if math.Abs(r.Cohort-unit) > 1e-9*unit {
			t.Errorf("cohort deviation %g, want %g", r.Cohort, unit)
		}
		if want := 0.001 + 2*math.Sqrt(0.001*math.Log(1e6)); math.Abs(r.Epsilon-want) > 1e-9 {
			t.Errorf("ε = %g, want %g", r.Epsilon, want)
		}
	})
	t.Run("a generous budget shows the floor of each share", func(t *testing.T) {
		r, err := Describe(planOf(t, "SELECT count()"), 1_000_000, 2, 4)
		if err != nil {
			t.Fatal(err)
		}
		if want := math.Sqrt(4 * MinShareSigma2); math.Abs(r.Figures[0].StdDev-want) > 1e-12 {
			t.Fatalf("deviation %g, want √(4 contributors × %d) = %g", r.Figures[0].StdDev, MinShareSigma2, want)
		}
	})
	t.Run("missing contributions are noted", func(t *testing.T) {
		r, err := Describe(p, 1000, 3, 2)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(r.Note, "only 2 of the 3 noise shares") {
			t.Fatalf("note %q, want one saying two of three shares are in", r.Note)
		}
	})
	t.Run("no contributor is refused", func(t *testing.T) {
		if _, err := Describe(p, 1000, 2, 0); !errors.Is(err, ErrInvalid) {
			t.Fatalf("err = %v, want ErrInvalid", err)
		}
	})
	t.Run("no plan is refused, with or without noise", func(t *testing.T) {
		for _, rho := range []uint64{0, 1000} {
			if _, err := Describe(nil, rho, 2, 4); !errors.Is(err, ErrInvalid) {
				t.Fatalf("ρ = %d: err = %v, want ErrInvalid", rho, err)
			}
		}
	})
}

// TestXiIsNegligible: the largest release the limits allow (8192 figures
// and the cohort count), every share at the floor, a hundred hospitals:
// the excess of splitting stays below 1e-10, as docs/DP.md says.
func TestXiIsNegligible(t *testing.T) {
	b := query.Block{Statistic: &pb.Statistic{Kind: &pb.Statistic_Count{Count: &pb.Count{}}}}
	for range query.DefaultLimits.MaxSlots {
		b.Figures = append(b.Figures, query.Figure{Name: "n", Bound: 1})
	}
	p := &query.Plan{Blocks: []query.Block{b}}
	for _, hospitals := range []int{1, 2, 100} {
		r, err := Describe(p, 1<<40, hospitals, hospitals)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case hospitals == 1 && r.Xi != 0:
			t.Fatalf("one share: ξ = %g, want exactly 0", r.Xi)
		case r.Xi >= 1e-10:
			t.Fatalf("%d shares: ξ = %g, want < 1e-10", hospitals, r.Xi)
		}
	}
}

func TestEpsilonAndBackAgain(t *testing.T) {
	t.Run("the conversion is ρ + 2√(ρ ln 1/δ)", func(t *testing.T) {
		if got, want := Epsilon(500_000, 1e-6), 0.5+2*math.Sqrt(0.5*math.Log(1e6)); math.Abs(got-want) > 1e-12 {
			t.Fatalf("Epsilon = %g, want %g", got, want)
		}
	})
	t.Run("a δ outside (0, 1) gives NaN", func(t *testing.T) {
		for _, d := range []float64{0, 1, -1, math.NaN()} {
			if !math.IsNaN(Epsilon(1000, d)) {
				t.Fatalf("Epsilon at δ = %g is a number", d)
			}
		}
	})
	for _, eps := range []float64{0.1, 0.5, 1, 5, 20} {
		t.Run("the budget for ε "+formatFloat(eps)+" is the largest that fits", func(t *testing.T) {
			m, err := RhoMicroFor(eps, 1e-6)
			if err != nil {
				t.Fatal(err)
			}
			if Epsilon(m, 1e-6) > eps || Epsilon(m+1, 1e-6) <= eps {
				t.Fatalf("ρ = %d millionths gives ε = %g and one more gives %g; want the last at or below %g", m, Epsilon(m, 1e-6), Epsilon(m+1, 1e-6), eps)
			}
		})
	}
	for _, tc := range []struct {
		name         string
		epsilon, dlt float64
	}{
		{"a zero ε is refused", 0, 1e-6},
		{"a negative ε is refused", -1, 1e-6},
		{"an infinite ε is refused", math.Inf(1), 1e-6},
		{"a NaN ε is refused", math.NaN(), 1e-6},
		{"a δ of zero is refused", 1, 0},
		{"a δ of one is refused", 1, 1},
		{"an ε below one millionth of ρ is refused", 1e-5, 1e-6},
		{"an absurd ε is refused", 1e30, 1e-6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := RhoMicroFor(tc.epsilon, tc.dlt); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
