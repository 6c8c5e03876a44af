package report

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"strings"
)

// Privacy spends. A query spends ρ of its researcher's zCDP budget. ρ-zCDP
// implies (ε, δ)-DP for every δ in (0, 1) with
//
//	ε = ρ + 2·√(ρ·ln(1/δ))
//
// (Bun and Steinke 2016, proposition 1.3), so a researcher who thinks in
// (ε, δ) spends ρ = (√(L + ε) − √L)² with L = ln(1/δ), the largest ρ that
// keeps that guarantee. On chain ρ is an integer of millionths, rounded
// down so the spend never exceeds what was asked.

// DefaultDelta is the δ of an (ε, δ) spend when none is given.
const DefaultDelta = 1e-6

// MaxRho bounds one query's spend (budgets are a few units of ρ).
const MaxRho = 1_000_000

// ErrPrivacy wraps every refusal of a privacy argument.
var ErrPrivacy = errors.New("privacy spend")

// ParseRho reads ρ as a decimal ("0.5", "2", "1e-3") exactly and returns
// it in millionths, rounded down.
func ParseRho(s string) (uint64, error) {
	s = strings.TrimSpace(s)
	var r *big.Rat
	if len(s) <= 40 && decimal.MatchString(s) {
		r, _ = new(big.Rat).SetString(s)
	}
	if r == nil {
		return 0, fmt.Errorf("%w: ρ %.20q is not a decimal number such as 0.5", ErrPrivacy, s)
	}
	if r.Sign() < 0 || r.Cmp(big.NewRat(MaxRho, 1)) > 0 {
		return 0, fmt.Errorf("%w: ρ %s is outside 0 to %d", ErrPrivacy, s, MaxRho)
	}
	micro := new(big.Int).Quo(new(big.Int).Mul(r.Num(), big.NewInt(1_000_000)), r.Denom())
	return micro.Uint64(), nil
}

// decimal is what ParseRho reads: digits with an optional point and a
// short exponent (never a huge power of ten for big.Rat to build).
var decimal = regexp.MustCompile(`^[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]{1,2})?$`)

// RhoFromEpsilon returns the zCDP ρ that gives (ε, δ)-DP.
func RhoFromEpsilon(eps, delta float64) (float64, error) {
	switch {
	case math.IsNaN(eps) || eps <= 0 || eps > MaxRho:
		return 0, fmt.Errorf("%w: ε %v must be above 0 and at most %d", ErrPrivacy, eps, MaxRho)
	case math.IsNaN(delta) || delta <= 0 || delta >= 1:
		return 0, fmt.Errorf("%w: δ %v must be strictly between 0 and 1 (usually well below 1/patients, e.g. 1e-6)", ErrPrivacy, delta)
	}
	l := math.Log(1 / delta)
	// √ρ = √(L+ε) − √L, written without the cancellation.
	s := eps / (math.Sqrt(l+eps) + math.Sqrt(l))
	return s * s, nil
}

// MicroFromRho returns ρ in millionths, rounded down.
func MicroFromRho(rho float64) (uint64, error) {
	if math.IsNaN(rho) || rho < 0 || rho > MaxRho {
		return 0, fmt.Errorf("%w: ρ %v is outside 0 to %d", ErrPrivacy, rho, MaxRho)
	}
	return uint64(math.Floor(rho * 1e6)), nil
}

// Epsilon is the ε that a spend of rhoMicro millionths of ρ guarantees at δ.
func Epsilon(rhoMicro uint64, delta float64) float64 {
	rho := float64(rhoMicro) / 1e6
	return rho + 2*math.Sqrt(rho*math.Log(1/delta))
}

// FormatMicro writes millionths as a decimal: 500000 → "0.5".
func FormatMicro(v uint64) string {
	s := fmt.Sprintf("%d.%06d", v/1_000_000, v%1_000_000)
	s = strings.TrimRight(s, "0")
	return strings.TrimSuffix(s, ".")
}
