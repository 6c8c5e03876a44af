package dp

import (
	"errors"
	"math"
	"math/big"
	"testing"
)

// Statistical tests draw from crypto/rand, so they cannot be seeded. Each
// compares an estimate with its exact expectation and fails only beyond
// 6 standard deviations of the estimator (or, for χ², beyond the
// Laurent–Massart bound at probability e^−30): about one failure in
// 10^8 runs.
const sixSigma = 6

// pmf is a distribution on the integers, by its unnormalised weight.
type pmf func(y int) float64

// moments returns the mean, variance and fourth central moment of p,
// summing y over [−span, span] (span chosen so the rest is negligible).
func moments(p pmf, span int) (mean, variance, m4 float64) {
	var z, s1 float64
	for y := -span; y <= span; y++ {
		w := p(y)
		z += w
		s1 += w * float64(y)
	}
	mean = s1 / z
	for y := -span; y <= span; y++ {
		d := float64(y) - mean
		w := p(y) / z
		variance += w * d * d
		m4 += w * d * d * d * d
	}
	return mean, variance, m4
}

// checkMoments draws n samples and checks their mean and their mean
// squared deviation from the true mean against the exact moments.
func checkMoments(t *testing.T, n int, draw func() float64, mean, variance, m4 float64) {
	t.Helper()
	var s1, s2 float64
	for range n {
		y := draw()
		s1 += y
		s2 += (y - mean) * (y - mean)
	}
	gotMean, gotVar := s1/float64(n), s2/float64(n)
	if bound := sixSigma * math.Sqrt(variance/float64(n)); math.Abs(gotMean-mean) > bound {
		t.Errorf("sample mean %.6g, want %.6g ± %.3g (6σ of the estimator)", gotMean, mean, bound)
	}
	if bound := sixSigma * math.Sqrt((m4-variance*variance)/float64(n)); math.Abs(gotVar-variance) > bound {
		t.Errorf("sample variance %.6g, want %.6g ± %.3g (6σ of the estimator)", gotVar, variance, bound)
	}
}

func gaussPMF(sigma2 float64) pmf {
	return func(y int) float64 { return math.Exp(-float64(y) * float64(y) / (2 * sigma2)) }
}

func TestFloorSqrtIsExact(t *testing.T) {
	cases := []struct {
		name string
		x    *big.Rat
		want int64
	}{
		{"zero has root zero", big.NewRat(0, 1), 0},
		{"a quarter has root zero", big.NewRat(1, 4), 0},
		{"one has root one", big.NewRat(1, 1), 1},
		{"three rounds down to one", big.NewRat(3, 1), 1},
		{"a perfect square is exact", big.NewRat(25, 1), 5},
		{"just below a square rounds down", big.NewRat(99, 4), 4},
		{"a fraction above a square rounds down", big.NewRat(101, 4), 5},
		{"sigma 10^6 is exact", big.NewRat(1_000_000_000_000, 1), 1_000_000},
		{"one below 10^12 rounds down", big.NewRat(999_999_999_999, 1), 999_999},
		{"one seventh of 10^12", big.NewRat(1_000_000_000_000, 7), 377_964},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := floorSqrt(tc.x); got.Int64() != tc.want {
				t.Fatalf("floorSqrt(%s) = %s, want %d", tc.x.RatString(), got, tc.want)
			}
		})
	}
	t.Run("every root brackets its square on huge rationals", func(t *testing.T) {
		x, _ := new(big.Rat).SetString("123456789012345678901234567890123/7")
		r := floorSqrt(x)
		r2 := new(big.Rat).SetInt(new(big.Int).Mul(r, r))
		r1 := new(big.Int).Add(r, one)
		r12 := new(big.Rat).SetInt(new(big.Int).Mul(r1, r1))
		if r2.Cmp(x) > 0 || r12.Cmp(x) <= 0 {
			t.Fatalf("floorSqrt(%s) = %s does not satisfy r² ≤ x < (r+1)²", x.RatString(), r)
		}
	})
}

func TestAcceptanceExponentIsExact(t *testing.T) {
	cases := []struct {
		name   string
		sigma2 *big.Rat
		y      int64
	}{
		{"an integer variance at zero", big.NewRat(4, 1), 0},
		{"an integer variance at its scale", big.NewRat(4, 1), 3},
		{"a fractional variance far out", big.NewRat(7, 3), -11},
		{"a small variance", big.NewRat(1, 5), 2},
		{"a large variance", big.NewRat(1_000_000_000_000, 7), 123_456_789},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tt := floorSqrt(tc.sigma2)
			tt.Add(tt, one)
			num, den := newAcceptance(tc.sigma2, tt).exponent(big.NewInt(tc.y))
			// (|y| − σ²/t)² / (2σ²) in big.Rat, straight from the paper.
			y := new(big.Rat).SetInt64(tc.y)
			y.Abs(y)
			want := new(big.Rat).Sub(y, new(big.Rat).Quo(tc.sigma2, new(big.Rat).SetInt(tt)))
			want.Mul(want, want)
			want.Quo(want, new(big.Rat).Mul(big.NewRat(2, 1), tc.sigma2))
			if got := new(big.Rat).SetFrac(num, den); got.Cmp(want) != 0 {
				t.Fatalf("exponent = %s, want %s", got.RatString(), want.RatString())
			}
		})
	}
}

func TestSamplerRefusesBadParameters(t *testing.T) {
	s := NewSampler()
	cases := []struct {
		name string
		call func() error
	}{
		{"a negative variance is refused", func() error { _, err := s.Gaussian(big.NewRat(-1, 2)); return err }},
		{"a nil variance is refused", func() error { _, err := s.Gaussian(nil); return err }},
		{"a zero Laplace scale is refused", func() error { _, err := s.Laplace(big.NewInt(0)); return err }},
		{"a nil Laplace scale is refused", func() error { _, err := s.Laplace(nil); return err }},
		{"a negative exponent is refused", func() error { _, err := s.BernoulliExp(big.NewRat(-1, 3)); return err }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
}

func TestSamplerDegenerateCasesAreCertain(t *testing.T) {
	s := NewSampler()
	for range 1000 {
		if y, err := s.Gaussian(new(big.Rat)); err != nil || y.Sign() != 0 {
			t.Fatalf("N_Z(0, 0) gave %v, %v; want 0", y, err)
		}
		if ok, err := s.BernoulliExp(new(big.Rat)); err != nil || !ok {
			t.Fatalf("Bernoulli(exp(0)) gave %v, %v; want true", ok, err)
		}
		if ok, err := s.bernoulli(big.NewInt(0), big.NewInt(7)); err != nil || ok {
			t.Fatalf("Bernoulli(0) gave %v, %v; want false", ok, err)
		}
		if ok, err := s.bernoulli(big.NewInt(7), big.NewInt(7)); err != nil || !ok {
			t.Fatalf("Bernoulli(1) gave %v, %v; want true", ok, err)
		}
		if u, err := s.uniform64(1); err != nil || u != 0 {
			t.Fatalf("uniform in [0, 1) gave %d, %v; want 0", u, err)
		}
	}
}

func TestUniformIsUniform(t *testing.T) {
	s := NewSampler()
	for _, n := range []uint64{2, 3, 7, 10, 64, 100} {
		t.Run("on "+itoa(n)+" values", func(t *testing.T) {
			const draws = 20000
			counts := make([]float64, n)
			for range draws {
				u, err := s.uniform64(n)
				if err != nil {
					t.Fatal(err)
				}
				if u >= n {
					t.Fatalf("uniform(%d) gave %d", n, u)
				}
				counts[u]++
			}
			expect := make([]float64, n)
			for i := range expect {
				expect[i] = draws / float64(n)
			}
			checkChiSquare(t, counts, expect)
		})
	}
	t.Run("beyond 64 bits the draws stay in range", func(t *testing.T) {
		n, _ := new(big.Int).SetString("100000000000000000000000000001", 10)
		u := new(big.Int)
		for range 1000 {
			if err := s.uniform(u, n); err != nil {
				t.Fatal(err)
			}
			if u.Sign() < 0 || u.Cmp(n) >= 0 {
				t.Fatalf("uniform gave %s outside [0, %s)", u, n)
			}
		}
	})
}

// checkChiSquare compares observed counts with expected ones (each at
// least 20): Pearson's statistic on k−1 degrees of freedom must stay below
// k + 2√(kx) + 2x with x = 30 (Laurent–Massart: exceeded with probability
// at most e^−30 under the null).
func checkChiSquare(t *testing.T, observed, expected []float64) {
	t.Helper()
	var chi2 float64
	for i := range observed {
		if expected[i] < 20 {
			t.Fatalf("bin %d expects %.1f draws: merge bins", i, expected[i])
		}
		d := observed[i] - expected[i]
		chi2 += d * d / expected[i]
	}
	k := float64(len(observed) - 1)
	const x = 30
	if limit := k + 2*math.Sqrt(k*x) + 2*x; chi2 > limit {
		t.Fatalf("χ² = %.1f on %.0f degrees of freedom exceeds %.1f: the draws do not follow the distribution", chi2, k, limit)
	}
}

func TestBernoulliExpHasProbabilityExpMinusGamma(t *testing.T) {
	s := NewSampler()
	for _, tc := range []struct {
		name  string
		gamma *big.Rat
	}{
		{"a third", big.NewRat(1, 3)},
		{"one half", big.NewRat(1, 2)},
		{"exactly one", big.NewRat(1, 1)},
		{"two and a half takes the γ > 1 path", big.NewRat(5, 2)},
		{"seven stays rare", big.NewRat(7, 1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 40000
			hits := 0
			for range n {
				ok, err := s.BernoulliExp(tc.gamma)
				if err != nil {
					t.Fatal(err)
				}
				if ok {
					hits++
				}
			}
			g, _ := tc.gamma.Float64()
			p := math.Exp(-g)
			if bound := sixSigma * math.Sqrt(p*(1-p)/n); math.Abs(float64(hits)/n-p) > bound {
				t.Fatalf("frequency %.5f, want exp(−%s) = %.5f ± %.5f", float64(hits)/n, tc.gamma.RatString(), p, bound)
			}
		})
	}
}

func TestLaplaceHasTheStatedMoments(t *testing.T) {
	s := NewSampler()
	for _, scale := range []int64{1, 3, 50} {
		t.Run("at scale "+itoa(uint64(scale)), func(t *testing.T) {
			p := func(y int) float64 { return math.Exp(-math.Abs(float64(y)) / float64(scale)) }
			mean, variance, m4 := moments(p, int(80*scale))
			// The closed form: Var = 2e^{−1/t}/(1 − e^{−1/t})².
			q := math.Exp(-1 / float64(scale))
			if closed := 2 * q / ((1 - q) * (1 - q)); math.Abs(closed-variance) > 1e-9*closed {
				t.Fatalf("summed variance %.9g, closed form %.9g", variance, closed)
			}
			checkMoments(t, 40000, func() float64 {
				y, err := s.Laplace(big.NewInt(scale))
				if err != nil {
					t.Fatal(err)
				}
				return float64(y.Int64())
			}, mean, variance, m4)
		})
	}
}

func TestGaussianFollowsTheDiscreteGaussian(t *testing.T) {
	s := NewSampler()
	for _, tc := range []struct {
		name   string
		sigma2 *big.Rat
	}{
		{"below one, where it is far from the continuous one", big.NewRat(1, 2)},
		{"at two", big.NewRat(2, 1)},
		{"at a fraction", big.NewRat(37, 3)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const n = 60000
			s2, _ := tc.sigma2.Float64()
			p := gaussPMF(s2)
			span := int(12*math.Sqrt(s2)) + 12
			var z float64
			for y := -span; y <= span; y++ {
				z += p(y)
			}
			// Bins: every value whose expected count is at least 20, and
			// the two tails merged.
			counts := map[int]float64{}
			for range n {
				y, err := s.Gaussian(tc.sigma2)
				if err != nil {
					t.Fatal(err)
				}
				counts[int(y.Int64())]++
			}
			var observed, expected []float64
			var tailObs, tailExp float64
			for y := -span; y <= span; y++ {
				e := n * p(y) / z
				if e >= 20 {
					observed, expected = append(observed, counts[y]), append(expected, e)
				} else {
					tailObs += counts[y]
					tailExp += e
				}
			}
			for y, c := range counts {
				if y < -span || y > span {
					tailObs += c
				}
			}
			if tailExp >= 20 {
				observed, expected = append(observed, tailObs), append(expected, tailExp)
			} else if tailObs > tailExp+sixSigma*math.Sqrt(tailExp)+10 {
				t.Fatalf("%.0f draws in the tails, %.2f expected", tailObs, tailExp)
			}
			checkChiSquare(t, observed, expected)
		})
	}
}

func TestGaussianHasTheStatedMeanAndVariance(t *testing.T) {
	s := NewSampler()
	for _, tc := range []struct {
		name   string
		sigma2 *big.Rat
		draws  int
	}{
		{"sigma 10", big.NewRat(100, 1), 40000},
		{"sigma 1000", big.NewRat(1_000_000, 1), 40000},
		{"sigma 10^6", big.NewRat(1_000_000_000_000, 1), 40000},
		{"a rational variance 10^12/7", big.NewRat(1_000_000_000_000, 7), 20000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s2, _ := tc.sigma2.Float64()
			// From σ ≥ 10 on the discrete Gaussian's variance and fourth
			// moment equal σ² and 3σ⁴ to within e^{−2π²σ²}, far below
			// double precision (Canonne et al., section 2).
			checkMoments(t, tc.draws, func() float64 {
				y, err := s.Gaussian(tc.sigma2)
				if err != nil {
					t.Fatal(err)
				}
				return float64(y.Int64())
			}, 0, s2, 3*s2*s2)
		})
	}
	t.Run("sigma squared one half, against the summed moments", func(t *testing.T) {
		mean, variance, m4 := moments(gaussPMF(0.5), 40)
		checkMoments(t, 40000, func() float64 {
			y, err := s.Gaussian(big.NewRat(1, 2))
			if err != nil {
				t.Fatal(err)
			}
			return float64(y.Int64())
		}, mean, variance, m4)
	})
}

func itoa(n uint64) string { return new(big.Int).SetUint64(n).String() }
