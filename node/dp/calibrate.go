package dp

import (
	"fmt"
	"math/big"

	"github.com/medchain/medchain/contracts/query"
)

// MicroPerUnit, MinShareSigma2: see contracts/query, where the exact
// calibration lives so the contract can check a query's noise too.
const (
	MicroPerUnit   = query.MicroPerUnit
	MinShareSigma2 = query.MinShareSigma2
)

// Weight, SigmaSquared and Shares are contracts/query's exact calibration.
func Weight(plan *query.Plan) (int64, error) {
	w, err := query.Weight(plan)
	return w, asInvalid(err)
}

// asInvalid makes a refusal of contracts/query an ErrInvalid of this
// package too.
func asInvalid(err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%w: %w", ErrInvalid, err)
}

// SigmaSquared: see query.SigmaSquared.
func SigmaSquared(rhoMicro uint64, sensitivitySq *big.Rat, hospitals int) *big.Rat {
	return query.SigmaSquared(rhoMicro, sensitivitySq, hospitals)
}

// Shares: see query.Shares.
func Shares(members, threshold int) int { return query.Shares(members, threshold) }

type calibration = query.Calibration

func calibrate(plan *query.Plan, rhoMicro uint64, hospitals int) (*calibration, error) {
	c, err := query.Calibrate(plan, rhoMicro, hospitals)
	return c, asInvalid(err)
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
	out := make([]int64, len(c.Figures))
	for i, v := range c.Figures {
		if out[i], err = draw(s, v); err != nil {
			return nil, fmt.Errorf("figure %s: %w", c.Names[i], err)
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
	return draw(NewSampler(), c.Cohort)
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

// CheckRange: see query.CheckRange (the contract runs it at submission).
func CheckRange(plan *query.Plan, rhoMicro uint64, hospitals, members int, lim query.Limits) error {
	return asInvalid(query.CheckRange(plan, rhoMicro, hospitals, members, lim))
}

func formatMicro(m uint64) string { return query.FormatMicro(m) }
