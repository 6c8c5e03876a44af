package report

import (
	"errors"
	"math"
	"testing"
)

func TestParseRho(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want uint64
		bad  bool
	}{
		{"a decimal is read exactly", "0.5", 500_000, false},
		{"a whole number is read", "2", 2_000_000, false},
		{"an exponent is read", "1e-3", 1_000, false},
		{"digits beyond millionths are rounded down", "0.0000019", 1, false},
		{"a spend below a millionth rounds to zero", "0.0000001", 0, false},
		{"a number that float64 cannot hold exactly is still exact", "0.7", 700_000, false},
		{"zero is zero", "0", 0, false},
		{"a negative spend is refused", "-0.5", 0, true},
		{"a spend above the bound is refused", "1000001", 0, true},
		{"a fraction is refused", "1/2", 0, true},
		{"hex is refused", "0x10", 0, true},
		{"a huge exponent is refused before it is computed", "1e999999999", 0, true},
		{"NaN is refused", "NaN", 0, true},
		{"an empty value is refused", "", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRho(tt.in)
			if tt.bad {
				if !errors.Is(err, ErrPrivacy) {
					t.Fatalf("ParseRho(%q) = %d, %v; want a refusal", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseRho(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestRhoFromEpsilon(t *testing.T) {
	tests := []struct {
		name       string
		eps, delta float64
		bad        bool
	}{
		{"ε 0.5 at the default δ", 0.5, DefaultDelta, false},
		{"ε 1 at δ 1e-5", 1, 1e-5, false},
		{"a large ε", 50, 1e-9, false},
		{"a tiny ε stays accurate", 1e-6, 1e-6, false},
		{"ε 0 is refused", 0, DefaultDelta, true},
		{"a negative ε is refused", -1, DefaultDelta, true},
		{"NaN ε is refused", math.NaN(), DefaultDelta, true},
		{"infinite ε is refused", math.Inf(1), DefaultDelta, true},
		{"δ 0 is refused", 1, 0, true},
		{"δ 1 is refused", 1, 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rho, err := RhoFromEpsilon(tt.eps, tt.delta)
			if tt.bad {
				if !errors.Is(err, ErrPrivacy) {
					t.Fatalf("= %v, %v; want a refusal", rho, err)
				}
				return
			}
			if err != nil || rho <= 0 {
				t.Fatal(rho, err)
			}
			// The conversion inverts ε = ρ + 2√(ρ ln(1/δ)).
			back := rho + 2*math.Sqrt(rho*math.Log(1/tt.delta))
			if math.Abs(back-tt.eps) > 1e-9*tt.eps {
				t.Fatalf("ρ %v gives back ε %v, want %v", rho, back, tt.eps)
			}
			micro, err := MicroFromRho(rho)
			if err != nil || float64(micro) > rho*1e6 || float64(micro) < rho*1e6-1 {
				t.Fatalf("micro %d for ρ %v (%v)", micro, rho, err)
			}
			if micro > 0 && Epsilon(micro, tt.delta) > tt.eps {
				t.Fatalf("the rounded spend guarantees ε %v, more than the %v asked", Epsilon(micro, tt.delta), tt.eps)
			}
		})
	}
	// Hand-computed: δ = e^-1 gives L = 1, so ε = 3 is ρ = (2 − 1)² = 1.
	if rho, _ := RhoFromEpsilon(3, math.Exp(-1)); math.Abs(rho-1) > 1e-12 {
		t.Fatalf("ε 3 at δ 1/e: ρ %v, want 1", rho)
	}
}

func TestFormatMicro(t *testing.T) {
	for in, want := range map[uint64]string{0: "0", 1: "0.000001", 500_000: "0.5", 10_000_000: "10", 1_250_000: "1.25"} {
		if got := FormatMicro(in); got != want {
			t.Errorf("FormatMicro(%d) = %q, want %q", in, got, want)
		}
	}
}

func FuzzParseRho(f *testing.F) {
	for _, s := range []string{"0.5", "1e-3", "-1", "1/2", "NaN", "1e99", "0.0000019", "", " 2 "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseRho(s)
		if err != nil {
			if !errors.Is(err, ErrPrivacy) || m != 0 {
				t.Fatalf("ParseRho(%q) = %d, %v", s, m, err)
			}
			return
		}
		if m > MaxRho*1_000_000 {
			t.Fatalf("ParseRho(%q) = %d, above the bound", s, m)
		}
		// Reading back the formatted spend gives the same millionths.
		if back, err := ParseRho(FormatMicro(m)); err != nil || back != m {
			t.Fatalf("ParseRho(FormatMicro(%d)) = %d, %v", m, back, err)
		}
	})
}
