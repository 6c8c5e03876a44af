package dp

import (
	"fmt"
	"math/big"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

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
func Weight(plan *query.Plan) (int64, error) {
	if plan == nil || len(plan.Blocks) == 0 {
		return 0, invalid("the query plan has no statistic: lay the query out with query.Layout first")
	}
	w := int64(1) // the cohort count
	for i, b := range plan.Blocks {
		if len(b.Figures) == 0 {
			return 0, invalid("statistic %d of the plan has no figure", i+1)
		}
		for _, f := range b.Figures {
			if f.Bound < 1 {
				return 0, invalid("statistic %d: figure %s has bound %d; every figure needs a per-patient bound ≥ 1", i+1, f.Name, f.Bound)
			}
		}
		w += blockWeight(b)
	}
	return w, nil
}

func blockWeight(b query.Block) int64 {
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

// calibration is the share variance of each figure, in plan order, and of
// the cohort count.
type calibration struct {
	weight  int64
	figures []*big.Rat
	names   []string
	blocks  []int
	bounds  []int64
	wide    []bool
	cohort  *big.Rat
}

func calibrate(plan *query.Plan, rhoMicro uint64, hospitals int) (*calibration, error) {
	w, err := Weight(plan)
	if err != nil {
		return nil, err
	}
	switch {
	case rhoMicro == 0:
		return nil, invalid("ρ = 0 is the dp_off test mode: such a query adds no noise, so do not draw any")
	case hospitals < 1:
		return nil, invalid("%d hospitals: the noise is split over at least one (see Shares)", hospitals)
	}
	c := &calibration{weight: w, cohort: SigmaSquared(rhoMicro, big.NewRat(w, 1), hospitals)}
	for i, b := range plan.Blocks {
		for _, f := range b.Figures {
			// Δ_f² = Bound² · W: figure f's noise is Bound times that of a
			// figure of bound 1, so every figure divided by its bound gets
			// the same noise and the release is exactly ρ-zCDP.
			b2 := new(big.Int).SetInt64(f.Bound)
			b2.Mul(b2, b2)
			b2.Mul(b2, big.NewInt(w))
			c.figures = append(c.figures, SigmaSquared(rhoMicro, new(big.Rat).SetInt(b2), hospitals))
			c.names = append(c.names, f.Name)
			c.blocks = append(c.blocks, i)
			c.bounds = append(c.bounds, f.Bound)
			c.wide = append(c.wide, f.Wide)
		}
	}
	return c, nil
}

// Noise returns one hospital's share of the noise of a query: one value
// per figure, in plan order (the figures of Blocks[0], then of Blocks[1],
// …), in the figure's integer units. The hospital adds value i to its sum
// of figure i before Figure.Split, so a wide figure gets its noise on the
// whole value. rhoMicro is the query's budget (≥ 1; a dp_off query adds no
// noise and must not call Noise); hospitals is how many shares the
// guarantee counts on (Shares). Every call draws fresh noise from
// crypto/rand; a hospital must post the noise of one call only, once.
func Noise(plan *query.Plan, rhoMicro uint64, hospitals int) ([]int64, error) {
	c, err := calibrate(plan, rhoMicro, hospitals)
	if err != nil {
		return nil, err
	}
	s := NewSampler()
	out := make([]int64, len(c.figures))
	for i, v := range c.figures {
		if out[i], err = draw(s, v); err != nil {
			return nil, fmt.Errorf("figure %s: %w", c.names[i], err)
		}
	}
	return out, nil
}

// CohortNoise returns one hospital's share of the noise on its cohort
// count (the second ciphertext of a contribution), calibrated with the
// figures of the same query: Noise and CohortNoise together spend the
// query's ρ once.
func CohortNoise(plan *query.Plan, rhoMicro uint64, hospitals int) (int64, error) {
	c, err := calibrate(plan, rhoMicro, hospitals)
	if err != nil {
		return 0, err
	}
	return draw(NewSampler(), c.cohort)
}

func draw(s *Sampler, sigma2 *big.Rat) (int64, error) {
	y, err := s.Gaussian(sigma2)
	if err != nil {
		return 0, err
	}
	if !y.IsInt64() {
		return 0, invalid("the noise does not fit 64 bits: ρ is far too small for this query (CheckRange refuses it)")
	}
	return y.Int64(), nil
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
func CheckRange(plan *query.Plan, rhoMicro uint64, hospitals, members int, lim query.Limits) error {
	c, err := calibrate(plan, rhoMicro, hospitals)
	if err != nil {
		return err
	}
	if members < hospitals {
		return invalid("%d members cannot carry %d noise shares", members, hospitals)
	}
	if lim.SlotBound < 1 {
		return invalid("the limits have no slot bound")
	}
	fits := func(sigma2 *big.Rat, wide bool) bool {
		room := new(big.Int).Mul(big.NewInt(lim.SlotBound), big.NewInt(14))
		if wide {
			room.Mul(room, big.NewInt(query.WideBase))
		}
		room.Mul(room, room)
		need := new(big.Rat).Mul(sigma2, big.NewRat(tailSigmas*tailSigmas*int64(members), 1))
		return need.Cmp(new(big.Rat).SetInt(room)) <= 0
	}
	for i, v := range c.figures {
		if !fits(v, c.wide[i]) {
			return invalid("statistic %d: the noise of %s at ρ = %s would overflow the encrypted sum: spend more ρ on this query or ask for fewer figures",
				c.blocks[i]+1, c.names[i], formatMicro(rhoMicro))
		}
	}
	if !fits(c.cohort, false) {
		return invalid("the noise of the cohort count at ρ = %s would overflow the encrypted sum: spend more ρ", formatMicro(rhoMicro))
	}
	return nil
}

// formatMicro writes a ρ in millionths as a decimal.
func formatMicro(m uint64) string {
	s := fmt.Sprintf("%d.%06d", m/MicroPerUnit, m%MicroPerUnit)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
