package report

import (
	"fmt"
	"math"
	"math/big"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

// The arithmetic is exact: every value is a rational computed from the
// integer figures with math/big and rounded once to float64 (as
// node/synth's truth.json is), so a result with DP off compares with ==.

func rat(v int64) *big.Rat { return new(big.Rat).SetInt64(v) }

func f64(r *big.Rat) float64 {
	f, _ := r.Float64()
	return f
}

func ptr[T any](v T) *T { return &v }

// moments sets n, sum, mean and — with sumSq — the sample variance and
// standard deviation of a field, from n, Σv and Σv² (v = value × scale):
//
//	sum      = Σv / scale
//	mean     = Σv / (n·scale)
//	variance = (n·Σv² − (Σv)²) / (n·(n−1)·scale²)
//	stddev   = √variance
func moments(s *Statistic, n, sum int64, sumSq *int64) {
	scale := s.Scale
	s.N = ptr(n)
	s.Sum = ptr(f64(new(big.Rat).SetFrac(big.NewInt(sum), big.NewInt(scale))))
	if n <= 0 {
		s.Notes = append(s.Notes, fmt.Sprintf("n = %d: no mean", n))
		return
	}
	s.Mean = ptr(f64(new(big.Rat).SetFrac(big.NewInt(sum), new(big.Int).Mul(big.NewInt(n), big.NewInt(scale)))))
	if sumSq == nil {
		return
	}
	if n < 2 {
		s.Notes = append(s.Notes, "n < 2: no sample variance")
		return
	}
	bn, bs := big.NewInt(n), big.NewInt(sum)
	num := new(big.Int).Mul(bn, big.NewInt(*sumSq))
	num.Sub(num, new(big.Int).Mul(bs, bs))
	den := new(big.Int).Mul(bn, big.NewInt(n-1))
	den.Mul(den, big.NewInt(scale*scale))
	v := f64(new(big.Rat).SetFrac(num, den))
	s.Variance = ptr(v)
	if v < 0 {
		s.Notes = append(s.Notes, "the variance is negative (noise): no standard deviation")
		return
	}
	s.Stddev = ptr(math.Sqrt(v))
}

// histogram pairs the bins' counts with their edges in natural units.
func histogram(edges []int64, scale int64, counts []int64) []Bin {
	out := make([]Bin, len(counts))
	for i, c := range counts {
		out[i] = Bin{
			From:  f64(new(big.Rat).SetFrac64(edges[i], scale)),
			To:    f64(new(big.Rat).SetFrac64(edges[i+1], scale)),
			Count: c,
		}
	}
	return out
}

// kaplanMeier reads the at_risk[k], events[k], censored[k] figures (in
// that order for each bin k) and computes the Kaplan–Meier curve
//
//	S(k) = Π_{j ≤ k} (1 − events[j]/at_risk[j])
//
// exactly, a factor being 1 when at_risk[j] = 0. Noise can make a factor
// leave [0, 1]; it is clipped there and clipped reports it.
func kaplanMeier(sv *pb.Survival, t []int64) (bins []SurvivalBin, clipped bool) {
	n := len(t) / 3
	bins = make([]SurvivalBin, n)
	s := big.NewRat(1, 1)
	zero, one := new(big.Rat), big.NewRat(1, 1)
	for k := range n {
		atRisk, events, censored := t[3*k], t[3*k+1], t[3*k+2]
		from := uint64(sv.BinDays) * uint64(k)
		to := min(from+uint64(sv.BinDays), uint64(sv.HorizonDays))
		if to < from {
			to = from
		}
		switch {
		case atRisk > 0:
			f := new(big.Rat).Sub(one, big.NewRat(events, atRisk))
			if f.Cmp(zero) < 0 || f.Cmp(one) > 0 {
				clipped = true
				if f.Cmp(zero) < 0 {
					f = zero
				} else {
					f = one
				}
			}
			s = new(big.Rat).Mul(s, f)
		case atRisk < 0 || events != 0:
			clipped = true
		}
		bins[k] = SurvivalBin{FromDay: uint32(from), ToDay: uint32(to), AtRisk: atRisk, Events: events, Censored: censored, S: f64(s)}
	}
	return bins, clipped
}

// linearFit solves XᵀX β = Xᵀy exactly from the figures xtx[i][j] (i ≤ j,
// x0 = 1), xty[i], yty (in query.Layout's order), over the scaled values
// (x·scale(x), y·scale(y)), and returns β in natural units: the scaled
// model y·sy = Σ βs_j·(x_j·sx_j) is y = Σ (βs_j·sx_j/sy)·x_j. R² is
// 1 − RSS/TSS with RSS = yᵀy − βᵀXᵀy and TSS = yᵀy − (Σy)²/n.
func linearFit(l *pb.Linreg, t []int64) (*LinearFit, string) {
	p := len(l.X) + 1
	a := make([][]*big.Rat, p)
	for i := range a {
		a[i] = make([]*big.Rat, p+1)
	}
	k := 0
	for i := range p {
		for j := i; j < p; j++ {
			a[i][j], a[j][i] = rat(t[k]), rat(t[k])
			k++
		}
	}
	xty := make([]*big.Rat, p)
	for i := range p {
		xty[i] = rat(t[k])
		a[i][p] = rat(t[k])
		k++
	}
	yty := rat(t[k])
	fit := &LinearFit{Y: query.FieldName(l.Y), N: t[0]}
	beta, ok := solve(a)
	if !ok {
		fit.Singular = true
		return fit, "XᵀX is singular (too few patients, or a predictor constant or collinear with others): no coefficients"
	}
	sy := query.Scale(l.Y)
	yUnit := units[l.Y]
	fit.Coefficients = append(fit.Coefficients, Coefficient{Name: "intercept", Unit: yUnit,
		Value: f64(new(big.Rat).Quo(beta[0], rat(sy)))})
	for i, x := range l.X {
		c := new(big.Rat).Mul(beta[i+1], big.NewRat(query.Scale(x), sy))
		fit.Coefficients = append(fit.Coefficients, Coefficient{Name: query.FieldName(x), Unit: yUnit + " per " + units[x], Value: f64(c)})
	}
	if t[0] > 0 {
		rss := new(big.Rat).Set(yty)
		for i := range p {
			rss.Sub(rss, new(big.Rat).Mul(beta[i], xty[i]))
		}
		tss := new(big.Rat).Mul(xty[0], xty[0])
		tss.Quo(tss, rat(t[0]))
		tss.Sub(yty, tss)
		if tss.Sign() > 0 {
			r2 := new(big.Rat).Quo(rss, tss)
			fit.R2 = ptr(f64(r2.Sub(big.NewRat(1, 1), r2)))
		}
	}
	return fit, ""
}

// solve reduces the augmented p×(p+1) system a in place by Gauss–Jordan
// elimination over the rationals and returns its solution, or false if
// the matrix is singular.
func solve(a [][]*big.Rat) ([]*big.Rat, bool) {
	p := len(a)
	for c := range p {
		piv := -1
		for r := c; r < p; r++ {
			if a[r][c].Sign() != 0 {
				piv = r
				break
			}
		}
		if piv < 0 {
			return nil, false
		}
		a[c], a[piv] = a[piv], a[c]
		inv := new(big.Rat).Inv(a[c][c])
		for j := c; j <= p; j++ {
			a[c][j] = new(big.Rat).Mul(a[c][j], inv)
		}
		for r := range p {
			if r == c || a[r][c].Sign() == 0 {
				continue
			}
			f := new(big.Rat).Set(a[r][c])
			for j := c; j <= p; j++ {
				a[r][j] = new(big.Rat).Sub(a[r][j], new(big.Rat).Mul(f, a[c][j]))
			}
		}
	}
	out := make([]*big.Rat, p)
	for i := range p {
		out[i] = a[i][p]
	}
	return out, true
}
