package synth

import "math/rand/v2"

// rng draws from a PCG stream with integer arithmetic only, so the output
// depends on nothing but the PCG algorithm (specified, unlike the helpers
// of math/rand/v2.Rand, whose algorithms a Go release may change).
type rng struct{ src *rand.PCG }

func newRNG(seed int64, stream uint64) *rng {
	return &rng{src: rand.NewPCG(uint64(seed), stream)}
}

// intn is uniform on [0, n), n > 0, by rejection (no modulo bias).
func (r *rng) intn(n int) int {
	bound := uint64(n)
	threshold := -bound % bound // (2^64 - bound) mod bound
	for {
		if x := r.src.Uint64(); x >= threshold {
			return int(x % bound)
		}
	}
}

// between is uniform on [lo, hi].
func (r *rng) between(lo, hi int) int { return lo + r.intn(hi-lo+1) }

// chance is true with probability num/den.
func (r *rng) chance(num, den int) bool { return r.intn(den) < num }

// normal is approximately N(mean, sd²), rounded to an integer: the sum of 12
// uniforms (Irwin–Hall), which is close to normal within ±6 sd.
func (r *rng) normal(mean, sd int) int {
	z := int64(-6_000_000)
	for range 12 {
		z += int64(r.intn(1_000_001))
	}
	return mean + int(roundDiv(z*int64(sd), 1_000_000))
}

func (r *rng) pick(list []string) string { return list[r.intn(len(list))] }

// weighted returns i with probability w[i]/sum(w).
func (r *rng) weighted(w []int) int {
	total := 0
	for _, x := range w {
		total += x
	}
	n := r.intn(total)
	for i, x := range w {
		if n < x {
			return i
		}
		n -= x
	}
	return len(w) - 1
}

func (r *rng) shuffle(n int, swap func(i, j int)) {
	for i := n - 1; i > 0; i-- {
		swap(i, r.intn(i+1))
	}
}

// roundDiv is a/b rounded half away from zero, b > 0.
func roundDiv(a, b int64) int64 {
	if a >= 0 {
		return (a + b/2) / b
	}
	return -((-a + b/2) / b)
}

func clamp(v, lo, hi int) int { return max(lo, min(hi, v)) }
