package dp

import (
	"bufio"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"math/bits"
)

// ErrInvalid wraps every refusal of a bad argument; the message says what
// to change.
var ErrInvalid = errors.New("dp")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Sampler draws exact samples of the discrete Gaussian and discrete Laplace
// distributions (Canonne, Kamath and Steinke, "The Discrete Gaussian for
// Differential Privacy", NeurIPS 2020, algorithms 1–3). All its randomness
// comes from crypto/rand (read through a buffer); all its arithmetic is on
// integers and rationals, so the samples follow the stated distributions
// exactly, with no floating-point artefact for an attacker to read.
//
// A Sampler is not safe for concurrent use; make one per goroutine.
type Sampler struct {
	rnd   *bufio.Reader
	word  [8]byte
	bits  uint64 // unused random bits, for Bernoulli(1/2)
	nbits int
}

// NewSampler returns a Sampler reading crypto/rand.
func NewSampler() *Sampler {
	return &Sampler{rnd: bufio.NewReaderSize(rand.Reader, 1024)}
}

var one = big.NewInt(1)

// Gaussian returns a sample of N_Z(0, σ²): the integer y with probability
// proportional to exp(−y²/(2σ²)). σ² = 0 gives 0. Algorithm 3 of Canonne et
// al.: propose y from the discrete Laplace of scale t = ⌊σ⌋+1 and accept it
// with probability exp(−(|y| − σ²/t)²/(2σ²)).
func (s *Sampler) Gaussian(sigma2 *big.Rat) (*big.Int, error) {
	if sigma2 == nil || sigma2.Sign() < 0 {
		return nil, invalid("the variance of a discrete Gaussian must be a rational ≥ 0")
	}
	if sigma2.Sign() == 0 {
		return new(big.Int), nil
	}
	t := floorSqrt(sigma2)
	t.Add(t, one)
	a := newAcceptance(sigma2, t)
	for {
		y, err := s.Laplace(t)
		if err != nil {
			return nil, err
		}
		num, den := a.exponent(y)
		ok, err := s.bernoulliExp(num, den)
		if err != nil {
			return nil, err
		}
		if ok {
			return y, nil
		}
	}
}

// acceptance is the exponent of algorithm 3's acceptance test for σ² =
// p/q and proposal scale t: γ(y) = (|y| − σ²/t)²/(2σ²), which is
// (|y|·q·t − p)² / (2·p·q·t²) in integers.
type acceptance struct {
	p, qt, den *big.Int
	num        big.Int
}

func newAcceptance(sigma2 *big.Rat, t *big.Int) *acceptance {
	p, q := sigma2.Num(), sigma2.Denom()
	den := new(big.Int).Mul(p, q)
	den.Lsh(den, 1)
	den.Mul(den, t)
	den.Mul(den, t)
	return &acceptance{p: p, qt: new(big.Int).Mul(q, t), den: den}
}

// exponent returns γ(y) as num/den; num is reused by the next call.
func (a *acceptance) exponent(y *big.Int) (num, den *big.Int) {
	a.num.Abs(y)
	a.num.Mul(&a.num, a.qt)
	a.num.Sub(&a.num, a.p)
	a.num.Mul(&a.num, &a.num)
	return &a.num, a.den
}

// Laplace returns a sample of the discrete Laplace distribution of integer
// scale t ≥ 1: the integer y with probability proportional to exp(−|y|/t).
// Algorithm 2 of Canonne et al. with s = 1: the magnitude is U + t·V with
// U uniform in [0, t) accepted with probability exp(−U/t) and V geometric
// with ratio exp(−1); a random sign, and −0 rejected.
func (s *Sampler) Laplace(t *big.Int) (*big.Int, error) {
	if t == nil || t.Sign() <= 0 {
		return nil, invalid("the scale of a discrete Laplace must be an integer ≥ 1")
	}
	u := new(big.Int)
	for {
		for {
			if err := s.uniform(u, t); err != nil {
				return nil, err
			}
			ok, err := s.bernoulliExp(u, t)
			if err != nil {
				return nil, err
			}
			if ok {
				break
			}
		}
		var v int64
		for {
			ok, err := s.bernoulliExp1(one, one)
			if err != nil {
				return nil, err
			}
			if !ok {
				break
			}
			v++
		}
		negative, err := s.bit()
		if err != nil {
			return nil, err
		}
		y := new(big.Int).Mul(big.NewInt(v), t)
		y.Add(y, u)
		if negative {
			if y.Sign() == 0 {
				continue
			}
			y.Neg(y)
		}
		return y, nil
	}
}

// BernoulliExp returns true with probability exp(−γ), for a rational γ ≥ 0.
func (s *Sampler) BernoulliExp(gamma *big.Rat) (bool, error) {
	if gamma == nil || gamma.Sign() < 0 {
		return false, invalid("Bernoulli(exp(−γ)) needs a rational γ ≥ 0")
	}
	return s.bernoulliExp(gamma.Num(), gamma.Denom())
}

// bernoulliExp returns true with probability exp(−num/den), num ≥ 0 and
// den > 0 (algorithm 1): for γ > 1, ⌊γ⌋ trials of exp(−1) and one of
// exp(−(γ − ⌊γ⌋)) must all succeed.
func (s *Sampler) bernoulliExp(num, den *big.Int) (bool, error) {
	if num.Cmp(den) <= 0 {
		return s.bernoulliExp1(num, den)
	}
	whole, frac := new(big.Int).QuoRem(num, den, new(big.Int))
	for i := new(big.Int); i.Cmp(whole) < 0; i.Add(i, one) {
		ok, err := s.bernoulliExp1(one, one)
		if err != nil || !ok {
			return false, err
		}
	}
	return s.bernoulliExp1(frac, den)
}

// bernoulliExp1 returns true with probability exp(−γ) for γ = num/den in
// [0, 1]: draw A_k ~ Bernoulli(γ/k) for k = 1, 2, … until one fails; the
// index K of that failure is odd with probability exactly exp(−γ).
func (s *Sampler) bernoulliExp1(num, den *big.Int) (bool, error) {
	k := int64(1)
	kden := new(big.Int)
	kk := new(big.Int)
	for {
		kden.Mul(den, kk.SetInt64(k))
		a, err := s.bernoulli(num, kden)
		if err != nil {
			return false, err
		}
		if !a {
			return k%2 == 1, nil
		}
		k++
	}
}

// bernoulli returns true with probability num/den (num ≥ 0, den > 0; a
// ratio above 1 counts as 1).
func (s *Sampler) bernoulli(num, den *big.Int) (bool, error) {
	if num.Sign() == 0 {
		return false, nil
	}
	if num.Cmp(den) >= 0 {
		return true, nil
	}
	if den.IsUint64() {
		u, err := s.uniform64(den.Uint64())
		return u < num.Uint64(), err
	}
	u := new(big.Int)
	if err := s.uniform(u, den); err != nil {
		return false, err
	}
	return u.Cmp(num) < 0, nil
}

// uniform sets u to a uniform integer in [0, n), n > 0.
func (s *Sampler) uniform(u, n *big.Int) error {
	if n.IsUint64() {
		x, err := s.uniform64(n.Uint64())
		u.SetUint64(x)
		return err
	}
	x, err := rand.Int(s.rnd, n)
	if err != nil {
		return fmt.Errorf("reading crypto/rand: %w", err)
	}
	u.Set(x)
	return nil
}

// uniform64 returns a uniform integer in [0, n), n > 0, by rejection on
// the smallest power of two at least n.
func (s *Sampler) uniform64(n uint64) (uint64, error) {
	if n == 1 {
		return 0, nil
	}
	mask := uint64(1)<<bits.Len64(n-1) - 1 // all ones when n−1 needs 64 bits
	for {
		if _, err := io.ReadFull(s.rnd, s.word[:]); err != nil {
			return 0, fmt.Errorf("reading crypto/rand: %w", err)
		}
		if x := binary.LittleEndian.Uint64(s.word[:]) & mask; x < n {
			return x, nil
		}
	}
}

// bit returns a fair random bit.
func (s *Sampler) bit() (bool, error) {
	if s.nbits == 0 {
		if _, err := io.ReadFull(s.rnd, s.word[:]); err != nil {
			return false, fmt.Errorf("reading crypto/rand: %w", err)
		}
		s.bits, s.nbits = binary.LittleEndian.Uint64(s.word[:]), 64
	}
	b := s.bits&1 == 1
	s.bits >>= 1
	s.nbits--
	return b, nil
}

// floorSqrt returns ⌊√x⌋ for a rational x ≥ 0, exactly: ⌊√x⌋ = ⌊√⌊x⌋⌋.
func floorSqrt(x *big.Rat) *big.Int {
	f := new(big.Int).Quo(x.Num(), x.Denom())
	return f.Sqrt(f)
}
