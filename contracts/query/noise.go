package query

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
)

// Exact calibration of the differential-privacy noise of a query
// (docs/DP.md): pure integer and rational arithmetic, so the contract can
// refuse at submission a query whose noise would overflow the encrypted
// sum (CheckRange), and hospitals (node/dp) draw exactly the noise it
// assumes.

// MicroPerUnit is how many ledger units make ρ = 1: budgets on chain are
// integers in millionths ("rho_micro").
const MicroPerUnit = 1_000_000

// MinShareSigma2 is the least variance parameter of one hospital's share
// of any figure's noise. Below it the sum of the shares drifts measurably
// from a discrete Gaussian; at 4 the drift (Report.Xi) is under 1e-10 for
// every query the limits allow (docs/DP.md, "Splitting the noise").
const MinShareSigma2 = 4

// tailSigmas is how many standard deviations of noise CheckRange keeps
// inside the HE plaintext range: a discrete Gaussian passes 20σ with
// probability below exp(−200).
const tailSigmas = 20

// Weight returns W, the squared L2 sensitivity of a query's release once
// every figure is divided by its bound: the most that adding or removing
// one patient can change Σ (Δfigure/Bound)² over the plan's figures and
// the noised cohort count (which the members decrypt in public, so it is
// part of the same release). Per statistic:
//
//	count, sum, mean, variance, stddev, linreg   one per figure
//	histogram(f; edges)                           1 (a patient's value is in one bin at most)
//	survival(C; b, h)                             bins + 1 (at risk in any bins; one event or censoring)
//	the cohort count                              1
//
// A block whose figures are not what its statistic promises counts one
// per figure, which never underestimates.
func Weight(plan *Plan) (int64, error) {
	if plan == nil || len(plan.Blocks) == 0 {
		return 0, noiseInvalid("the query plan has no statistic: lay the query out with query.Layout first")
	}
	w := int64(1) // the cohort count
	for i, b := range plan.Blocks {
		if len(b.Figures) == 0 {
			return 0, noiseInvalid("statistic %d of the plan has no figure", i+1)
		}
		for _, f := range b.Figures {
			if f.Bound < 1 {
				return 0, noiseInvalid("statistic %d: figure %s has bound %d; every figure needs a per-patient bound ≥ 1", i+1, f.Name, f.Bound)
			}
		}
		w += blockWeight(b)
	}
	return w, nil
}

func blockWeight(b Block) int64 {
	switch b.Statistic.GetKind().(type) {
	case *pb.Statistic_Histogram:
		for _, f := range b.Figures {
			if !strings.HasPrefix(f.Name, "bin[") {
				return int64(len(b.Figures))
			}
		}
		return 1
	case *pb.Statistic_Survival:
		var atRisk, ends int64
		for _, f := range b.Figures {
			switch {
			case strings.HasPrefix(f.Name, "at_risk["):
				atRisk++
			case strings.HasPrefix(f.Name, "events["), strings.HasPrefix(f.Name, "censored["):
				ends = 1
			default:
				return int64(len(b.Figures))
			}
		}
		return atRisk + ends
	}
	return int64(len(b.Figures))
}

// SigmaSquared returns the variance parameter of one hospital's share of
// the noise on a release of squared L2 sensitivity sensitivitySq under a
// budget of rhoMicro millionths of ρ-zCDP, split over hospitals shares:
//
//	σ² = Δ²/(2ρ)  for the whole release,  σ²/hospitals  for one share,
//
// and never less than MinShareSigma2. The result is exact. It returns nil
// when rhoMicro is 0 (a dp_off query: no noise at all), hospitals < 1, or
// sensitivitySq is nil or negative.
func SigmaSquared(rhoMicro uint64, sensitivitySq *big.Rat, hospitals int) *big.Rat {
	if rhoMicro == 0 || hospitals < 1 || sensitivitySq == nil || sensitivitySq.Sign() < 0 {
		return nil
	}
	den := new(big.Int).SetUint64(rhoMicro)
	den.Mul(den, big.NewInt(2*int64(hospitals)))
	v := new(big.Rat).SetFrac(big.NewInt(MicroPerUnit), den)
	v.Mul(v, sensitivitySq)
	if v.Cmp(big.NewRat(MinShareSigma2, 1)) < 0 {
		v.SetInt64(MinShareSigma2)
	}
	return v
}

// Shares is how many hospitals' noise the guarantee should count on in an
// alliance of members whose decryption threshold is threshold: up to
// threshold−1 members may pool what they know (a coalition of threshold
// could decrypt every contribution anyway), so members−threshold+1 shares
// stay unknown to any coalition the HE layer already tolerates.
func Shares(members, threshold int) int {
	return max(1, members-max(threshold, 1)+1)
}

// Calibration is the share variance of each figure, in plan order, and of
// the cohort count.
type Calibration struct {
	Weight  int64
	Figures []*big.Rat
	Names   []string
	Blocks  []int
	Bounds  []int64
	Wide    []bool
	Cohort  *big.Rat
}

// Calibrate returns the share variance of every figure of plan and of the
// cohort count, for a budget of rhoMicro split over hospitals shares.
func Calibrate(plan *Plan, rhoMicro uint64, hospitals int) (*Calibration, error) {
	w, err := Weight(plan)
	if err != nil {
		return nil, err
	}
	switch {
	case rhoMicro == 0:
		return nil, noiseInvalid("ρ = 0 is the dp_off test mode: such a query adds no noise, so do not draw any")
	case hospitals < 1:
		return nil, noiseInvalid("%d hospitals: the noise is split over at least one (see Shares)", hospitals)
	}
	c := &Calibration{Weight: w, Cohort: SigmaSquared(rhoMicro, big.NewRat(w, 1), hospitals)}
	for i, b := range plan.Blocks {
		for _, f := range b.Figures {
			// Δ_f² = Bound² · W: figure f's noise is Bound times that of a
			// figure of bound 1, so every figure divided by its bound gets
			// the same noise and the release is exactly ρ-zCDP.
			b2 := new(big.Int).SetInt64(f.Bound)
			b2.Mul(b2, b2)
			b2.Mul(b2, big.NewInt(w))
			c.Figures = append(c.Figures, SigmaSquared(rhoMicro, new(big.Rat).SetInt(b2), hospitals))
			c.Names = append(c.Names, f.Name)
			c.Blocks = append(c.Blocks, i)
			c.Bounds = append(c.Bounds, f.Bound)
			c.Wide = append(c.Wide, f.Wide)
		}
	}
	return c, nil
}

// CheckRange fails if the noise of a query could break the exactness of
// the homomorphic sum: with members hospitals each adding its share, every
// slot must stay inside the plaintext range. The layout keeps each
// figure's true alliance total within lim.SlotBound, and the alliance's
// HE range is at least 16·lim.SlotBound (research.Limits), so the noise
// may use 14·SlotBound (times WideBase for a wide figure, whose high slot
// carries noise/WideBase), leaving room for the hospitals' carries. The
// test is exact: (20σ_total)² ≤ room², in integers. The contract should
// refuse such a query at submission; the CLI can warn before.
func CheckRange(plan *Plan, rhoMicro uint64, hospitals, members int, lim Limits) error {
	c, err := Calibrate(plan, rhoMicro, hospitals)
	if err != nil {
		return err
	}
	if members < hospitals {
		return noiseInvalid("%d members cannot carry %d noise shares", members, hospitals)
	}
	if lim.SlotBound < 1 {
		return noiseInvalid("the limits have no slot bound")
	}
	fits := func(sigma2 *big.Rat, wide bool) bool {
		room := new(big.Int).Mul(big.NewInt(lim.SlotBound), big.NewInt(14))
		if wide {
			room.Mul(room, big.NewInt(WideBase))
		}
		room.Mul(room, room)
		need := new(big.Rat).Mul(sigma2, big.NewRat(tailSigmas*tailSigmas*int64(members), 1))
		return need.Cmp(new(big.Rat).SetInt(room)) <= 0
	}
	for i, v := range c.Figures {
		if !fits(v, c.Wide[i]) {
			return noiseInvalid("statistic %d: the noise of %s at ρ = %s would overflow the encrypted sum: spend more ρ on this query or ask for fewer figures",
				c.Blocks[i]+1, c.Names[i], FormatMicro(rhoMicro))
		}
	}
	if !fits(c.Cohort, false) {
		return noiseInvalid("the noise of the cohort count at ρ = %s would overflow the encrypted sum: spend more ρ", FormatMicro(rhoMicro))
	}
	return nil
}

// FormatMicro writes a ρ in millionths as a decimal.
func FormatMicro(m uint64) string {
	s := fmt.Sprintf("%d.%06d", m/MicroPerUnit, m%MicroPerUnit)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}

func noiseInvalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}
