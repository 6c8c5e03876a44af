package dp

import (
	"math/big"
	"testing"

	"github.com/medchain/medchain/contracts/query"
)

// BenchmarkGaussian is the time of one exact draw of N_Z(0, σ²).
func BenchmarkGaussian(b *testing.B) {
	for _, bc := range []struct {
		name   string
		sigma2 *big.Rat
	}{
		{"sigma=10", big.NewRat(100, 1)},
		{"sigma=1e3", big.NewRat(1_000_000, 1)},
		{"sigma=1e6", big.NewRat(1_000_000_000_000, 1)},
		{"sigma2=1e12/7", big.NewRat(1_000_000_000_000, 7)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s := NewSampler()
			for b.Loop() {
				if _, err := s.Gaussian(bc.sigma2); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkNoise is one hospital's noise for the example query
// (8 figures and the cohort count's calibration).
func BenchmarkNoise(b *testing.B) {
	q, err := query.Parse("SELECT count(), mean(hba1c), variance(hba1c), histogram(age; 0,18,40,65,80,120) WHERE condition = 'E11'")
	if err != nil {
		b.Fatal(err)
	}
	plan, err := query.Layout(q, query.DefaultLimits)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Noise(plan, 500_000, 2); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNoiseFullVector is one hospital's noise for a query that fills
// all 8192 slots with figures of bound 1.
func BenchmarkNoiseFullVector(b *testing.B) {
	blk := query.Block{}
	for range 8192 {
		blk.Figures = append(blk.Figures, query.Figure{Name: "n", Bound: 1})
	}
	plan := &query.Plan{Blocks: []query.Block{blk}}
	for b.Loop() {
		if _, err := Noise(plan, 500_000, 2); err != nil {
			b.Fatal(err)
		}
	}
}
