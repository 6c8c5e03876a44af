package he

import (
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/tuneinsight/lattigo/v6/ring"
)

func TestDefaultLiteral(t *testing.T) {
	lit := DefaultLiteral()
	twoN := uint64(2) << lit.LogN
	t.Run("the ring degree is 2^13", func(t *testing.T) {
		if lit.LogN != 13 {
			t.Fatalf("LogN %d", lit.LogN)
		}
	})
	t.Run("Q is three 60-bit NTT-friendly primes inside the 218-bit bound", func(t *testing.T) {
		if len(lit.Q) != 3 {
			t.Fatalf("%d primes", len(lit.Q))
		}
		logQ := 0.0
		for _, q := range lit.Q {
			if !new(big.Int).SetUint64(q).ProbablyPrime(0) || q%twoN != 1 || q>>59 != 1 {
				t.Fatalf("%#x: prime %v, mod 2N %d, bits %d", q, new(big.Int).SetUint64(q).ProbablyPrime(0), q%twoN, 64-bitsLeadingZeros(q))
			}
			logQ += math.Log2(float64(q))
		}
		if logQ > 218 {
			t.Fatalf("log2 Q = %.2f", logQ)
		}
	})
	t.Run("Q is what Lattigo's prime generator gives, so it can be regenerated", func(t *testing.T) {
		g := ring.NewNTTFriendlyPrimesGenerator(60, twoN)
		primes, err := g.NextDownstreamPrimes(3)
		if err != nil {
			t.Fatal(err)
		}
		for i := range primes {
			if primes[i] != lit.Q[i] {
				t.Fatalf("Q[%d] = %#x, generator gives %#x", i, lit.Q[i], primes[i])
			}
		}
	})
	t.Run("T is a prime of log2 45 that is 1 mod 2^14", func(t *testing.T) {
		if !new(big.Int).SetUint64(lit.T).ProbablyPrime(0) || lit.T%(1<<14) != 1 || lit.T>>45 != 1 {
			t.Fatalf("T = %#x", lit.T)
		}
	})
	t.Run("the parameters build, with 8192 slots and a ±2^44 range", func(t *testing.T) {
		p := testParams(t)
		if p.Slots() != 8192 || p.MaxAbs() < 1<<44-1<<20 {
			t.Fatalf("slots %d, max abs %d", p.Slots(), p.MaxAbs())
		}
	})
	t.Run("Literal returns a copy", func(t *testing.T) {
		p := testParams(t)
		l := p.Literal()
		l.Q[0] = 7
		if p.Literal().Q[0] == 7 {
			t.Fatal("Literal shares its slice")
		}
	})
}

func bitsLeadingZeros(x uint64) int {
	n := 0
	for ; n < 64 && x&(1<<63) == 0; x <<= 1 {
		n++
	}
	return n
}

func TestNewParamsRefuses(t *testing.T) {
	def := DefaultLiteral()
	mod := func(f func(*ParamsLiteral)) ParamsLiteral {
		l := def
		l.Q = append([]uint64(nil), def.Q...)
		f(&l)
		return l
	}
	for _, c := range []struct {
		name string
		lit  ParamsLiteral
		want string
	}{
		{"a ring degree outside 2^12 to 2^15", mod(func(l *ParamsLiteral) { l.LogN = 11 }), "LogN"},
		{"an empty Q", mod(func(l *ParamsLiteral) { l.Q = nil }), "primes"},
		{"a composite Q prime", mod(func(l *ParamsLiteral) { l.Q[1] = 0x0ffffffffffe8001 + 2*(1<<14) }), "not prime"},
		{"a Q prime that is not 1 mod 2N", mod(func(l *ParamsLiteral) { l.Q[2] = primeNotNTT(1<<60, 1<<14) }), "2N"},
		{"a repeated Q prime", mod(func(l *ParamsLiteral) { l.Q[2] = l.Q[0] }), "repeated"},
		{"a Q prime over 61 bits", mod(func(l *ParamsLiteral) { l.Q[0] = 1<<62 + 1 }), "bits"},
		{"Q over the security bound", mod(func(l *ParamsLiteral) { l.Q = moreNTTPrimes(t, 5) }), "security"},
		{"Q too small for the flooding", mod(func(l *ParamsLiteral) { l.Q = l.Q[:2] }), "flooding"},
		{"a composite T", mod(func(l *ParamsLiteral) { l.T = 0x200000008001 + 1<<14 }), "not prime"},
		{"a T that is not 1 mod 2N", mod(func(l *ParamsLiteral) { l.T = primeNotNTT(1<<45, 1<<14) }), "2N"},
		{"a zero T", mod(func(l *ParamsLiteral) { l.T = 0 }), "bits"},
		{"a T as large as Q[0]", mod(func(l *ParamsLiteral) { l.T = l.Q[0] }), "below Q[0]"},
	} {
		t.Run("it refuses "+c.name, func(t *testing.T) {
			_, err := NewParams(c.lit)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one mentioning %q", err, c.want)
			}
		})
	}
}

// primeNotNTT returns the largest prime below from that is not 1 mod twoN.
func primeNotNTT(from, twoN uint64) uint64 {
	for q := from - 1; ; q -= 2 {
		if q%twoN != 1 && new(big.Int).SetUint64(q).ProbablyPrime(0) {
			return q
		}
	}
}

// moreNTTPrimes returns the first k 60-bit NTT-friendly primes downwards.
func moreNTTPrimes(t *testing.T, k int) []uint64 {
	g := ring.NewNTTFriendlyPrimesGenerator(60, 1<<14)
	primes, err := g.NextDownstreamPrimes(k)
	if err != nil {
		t.Fatal(err)
	}
	return primes
}
