package dp

import (
	"errors"
	"math/big"
	"testing"
)

// FuzzGaussian: any rational variance is either refused with ErrInvalid
// (negative) or sampled without panic; N_Z(0, 0) is always 0.
func FuzzGaussian(f *testing.F) {
	for _, c := range [][2]int64{{1, 2}, {0, 1}, {-3, 4}, {1_000_000_000_000, 7}, {5, 1_000_000_007}} {
		f.Add(c[0], c[1])
	}
	s := NewSampler()
	f.Fuzz(func(t *testing.T, num, den int64) {
		if den == 0 {
			return
		}
		sigma2 := big.NewRat(num, den)
		if sigma2.Cmp(big.NewRat(1<<40, 1)) > 0 {
			return // keeps each case fast; size is covered by the benchmarks
		}
		y, err := s.Gaussian(sigma2)
		switch {
		case sigma2.Sign() < 0:
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("σ² = %s: err = %v, want ErrInvalid", sigma2.RatString(), err)
			}
		case err != nil:
			t.Fatalf("σ² = %s: %v", sigma2.RatString(), err)
		case sigma2.Sign() == 0 && y.Sign() != 0:
			t.Fatalf("N_Z(0, 0) gave %s", y)
		}
	})
}
