package dp

import (
	"fmt"
	"math"
	"math/big"

	"github.com/medchain/medchain/contracts/query"
)

// ReportDelta is the δ at which reports convert ρ-zCDP to (ε, δ)-DP.
const ReportDelta = 1e-6

// FigureNoise is the noise one figure of a result carries.
type FigureNoise struct {
	Statistic int    // index of the figure's block in the plan
	Name      string // e.g. "sum", "bin[3]"
	Bound     int64  // per-patient bound of the figure
	// StdDev is the standard deviation of the noise in the alliance sum,
	// in the figure's integer units (an upper bound: a discrete Gaussian's
	// variance never exceeds its parameter σ²).
	StdDev float64
}

// Report says what the noise of a released query does to its figures.
// Floats here are for people; no noise is drawn from them.
type Report struct {
	// Exact is true for a dp_off query: no noise, no privacy from noise;
	// Rho, Epsilon and every StdDev are then 0.
	Exact bool
	// Rho is the query's ρ-zCDP budget; Xi the excess that splitting the
	// noise into shares adds (the release is (Rho+Xi)-zCDP); Epsilon the
	// (ε, Delta)-DP it implies, ε = ρ+ξ + 2√((ρ+ξ)·ln(1/δ)).
	Rho, Xi, Epsilon, Delta float64
	// Hospitals is the number of noise shares the guarantee counts on;
	// Contributors how many hospitals' noise is in the sum.
	Hospitals, Contributors int
	// Weight is W (see Weight).
	Weight int64
	// Figures, in plan order, and the cohort count's noise.
	Figures []FigureNoise
	Cohort  float64
	// Note is set when fewer hospitals contributed than the guarantee
	// counts on.
	Note string
}

// Describe reports the noise of a query's result: rhoMicro its budget (0
// for a dp_off query, whose result is exact), hospitals the noise shares
// the calibration used (as given to Noise), contributors the hospitals
// whose contributions are in the sum.
func Describe(plan *query.Plan, rhoMicro uint64, hospitals, contributors int) (*Report, error) {
	if contributors < 1 {
		return nil, invalid("%d contributors: a result sums at least one contribution", contributors)
	}
	if rhoMicro == 0 {
		w, err := Weight(plan)
		if err != nil {
			return nil, err
		}
		r := &Report{Exact: true, Delta: ReportDelta, Hospitals: hospitals, Contributors: contributors, Weight: w}
		for i, b := range plan.Blocks {
			for _, f := range b.Figures {
				r.Figures = append(r.Figures, FigureNoise{Statistic: i, Name: f.Name, Bound: f.Bound})
			}
		}
		return r, nil
	}
	c, err := calibrate(plan, rhoMicro, hospitals)
	if err != nil {
		return nil, err
	}
	r := &Report{
		Rho: float64(rhoMicro) / MicroPerUnit, Delta: ReportDelta,
		Hospitals: hospitals, Contributors: contributors, Weight: c.Weight,
	}
	sd := func(share *big.Rat) float64 {
		v, _ := new(big.Rat).Mul(share, big.NewRat(int64(contributors), 1)).Float64()
		return math.Sqrt(v)
	}
	for i, v := range c.Figures {
		r.Figures = append(r.Figures, FigureNoise{Statistic: c.Blocks[i], Name: c.Names[i], Bound: c.Bounds[i], StdDev: sd(v)})
		r.Xi += tau(v, hospitals)
	}
	r.Cohort = sd(c.Cohort)
	r.Xi += tau(c.Cohort, hospitals)
	r.Epsilon = epsilon(r.Rho+r.Xi, ReportDelta)
	if contributors < hospitals {
		r.Note = fmt.Sprintf("only %d of the %d noise shares the guarantee counts on are in this result: "+
			"against anyone who knows none of them it is at most %.6g-zCDP, and weaker against members who know their own",
			contributors, hospitals, r.Rho*float64(hospitals)/float64(contributors))
	}
	return r, nil
}

// tau bounds how far the sum of n independent N_Z(0, σ²) is from privacy
// as good as one N_Z(0, nσ²) (Kairouz, Liu and Steinke, "The Distributed
// Discrete Gaussian Mechanism for Federated Learning with Secure
// Aggregation", ICML 2021, proposition 14): τ = 10·Σ_{k=1}^{n−1}
// exp(−2π²σ²·k/(k+1)).
func tau(sigma2 *big.Rat, n int) float64 {
	s2, _ := sigma2.Float64()
	t := 0.0
	for k := 1; k < n; k++ {
		t += math.Exp(-2 * math.Pi * math.Pi * s2 * float64(k) / float64(k+1))
	}
	return 10 * t
}

// Epsilon converts a budget of rhoMicro millionths of ρ-zCDP to the ε of
// (ε, δ)-DP: ε = ρ + 2√(ρ·ln(1/δ)) (Bun and Steinke 2016, proposition
// 1.3). It returns NaN for δ outside (0, 1).
func Epsilon(rhoMicro uint64, delta float64) float64 {
	return epsilon(float64(rhoMicro)/MicroPerUnit, delta)
}

func epsilon(rho, delta float64) float64 {
	if !(delta > 0 && delta < 1) {
		return math.NaN()
	}
	return rho + 2*math.Sqrt(rho*math.Log(1/delta))
}

// RhoMicroFor returns the largest budget, in millionths of ρ, whose
// Epsilon at delta is at most epsilon: what a researcher who thinks in
// (ε, δ) asks the chain for. ρ = (√(L+ε) − √L)² with L = ln(1/δ).
func RhoMicroFor(epsilon, delta float64) (uint64, error) {
	switch {
	case !(delta > 0 && delta < 1):
		return 0, invalid("δ = %g: use a probability strictly between 0 and 1, e.g. 1e-6", delta)
	case !(epsilon > 0) || math.IsInf(epsilon, 0):
		return 0, invalid("ε = %g: use a finite ε > 0, e.g. 1", epsilon)
	}
	l := math.Log(1 / delta)
	d := math.Sqrt(l+epsilon) + math.Sqrt(l)
	rho := epsilon * epsilon / (d * d) // (√(L+ε) − √L)², without cancellation
	if rho*MicroPerUnit >= 1<<62 {
		return 0, invalid("ε = %g is too large to express as a budget", epsilon)
	}
	m := uint64(rho * MicroPerUnit)
	for m > 0 && Epsilon(m, delta) > epsilon { // float rounding may land a unit high
		m--
	}
	if m == 0 {
		return 0, invalid("ε = %g at δ = %g is less than one millionth of ρ: ask for a larger ε", epsilon, delta)
	}
	return m, nil
}
