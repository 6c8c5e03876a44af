package he

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"slices"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// ParamsLiteral is the alliance's homomorphic-encryption parameter set as
// genesis pins it: the ring degree and the explicit primes, never bit sizes,
// so that every node builds byte-identical parameters. It is unchecked;
// NewParams validates it.
//
// There is no special modulus P: medchain only adds ciphertexts and switches
// keys with the multiparty protocols, so it needs no evaluation keys.
type ParamsLiteral struct {
	// LogN is log2 of the ring degree N. The ciphertext holds N slots.
	LogN int `json:"log_n"`
	// Q is the ciphertext modulus chain: distinct primes ≡ 1 mod 2N.
	Q []uint64 `json:"q"`
	// T is the plaintext modulus: a prime ≡ 1 mod 2N, so every slot is an
	// integer mod T. Decryption returns each slot centred in (−T/2, T/2).
	T uint64 `json:"t"`
}

// DefaultLiteral returns the pinned parameter set: N = 2^13, Q the three
// 60-bit NTT-friendly primes that Lattigo's prime generator yields first
// downwards from 2^60 for 2N = 2^14 (180 bits in all, inside the 218-bit
// bound for 128-bit security at N = 2^13), and T = 2^45 + 2^15 + 1, a
// 45-bit prime ≡ 1 mod 2^15. Sums are exact while every slot stays within
// ±MaxAbs ≈ ±2^44.
func DefaultLiteral() ParamsLiteral {
	return ParamsLiteral{
		LogN: 13,
		Q:    []uint64{0x0fffffffffffc001, 0x0ffffffffffe8001, 0x0ffffffffffd8001},
		T:    0x200000008001,
	}
}

// securityBound is log2(Q·P) at most for 128-bit classical security with a
// ternary secret (HomomorphicEncryption.org standard, table 1), by LogN.
var securityBound = map[int]float64{12: 109, 13: 218, 14: 438, 15: 881}

// noiseHeadroomBits is what the parameters must leave, above the flooding
// term, between log2 T and log2 Q. Decryption is exact while
// |m + T·noise| < Q/2, and the noise of a switched ciphertext is at most
// t·2^FloodBits plus terms far smaller, so this allows t up to about 2^30.
const noiseHeadroomBits = 32

// Params is a validated, immutable parameter set. All its methods are safe
// for concurrent use: each call builds its own Lattigo working objects.
type Params struct {
	lit     ParamsLiteral
	bgv     bgv.Parameters
	maxAbs  int64
	layouts [numKinds]*layout
}

// NewParams validates lit and builds the parameters and the canonical
// templates the validators compare against. Genesis calls it once; an
// error means the genesis file is unusable.
func NewParams(lit ParamsLiteral) (*Params, error) {
	lit.Q = slices.Clone(lit.Q)
	if err := lit.check(); err != nil {
		return nil, fmt.Errorf("he: parameters: %w", err)
	}
	bp, err := bgv.NewParametersFromLiteral(bgv.ParametersLiteral{
		LogN:             lit.LogN,
		Q:                lit.Q,
		Xe:               rlwe.DefaultXe,
		Xs:               rlwe.DefaultXs,
		PlaintextModulus: lit.T,
	})
	if err != nil {
		return nil, fmt.Errorf("he: parameters: %w", err)
	}
	if bp.MaxSlots() != bp.N() || bp.PCount() != 0 {
		return nil, fmt.Errorf("he: parameters: %d slots and %d P primes, want %d and 0", bp.MaxSlots(), bp.PCount(), bp.N())
	}
	p := &Params{lit: lit, bgv: bp, maxAbs: int64((lit.T-1)/2) - 1}
	if err := p.buildLayouts(); err != nil {
		return nil, fmt.Errorf("he: parameters: %w", err)
	}
	return p, nil
}

func (lit ParamsLiteral) check() error {
	bound, ok := securityBound[lit.LogN]
	if !ok {
		return fmt.Errorf("LogN %d: must be 12 to 15", lit.LogN)
	}
	twoN := uint64(2) << lit.LogN
	if len(lit.Q) == 0 || len(lit.Q) > 16 {
		return fmt.Errorf("Q has %d primes, want 1 to 16", len(lit.Q))
	}
	logQ := 0.0
	for i, q := range lit.Q {
		if q>>61 != 0 || q < 1<<30 {
			return fmt.Errorf("Q[%d] = %d: must have 31 to 61 bits", i, q)
		}
		if err := checkNTTPrime(q, twoN); err != nil {
			return fmt.Errorf("Q[%d] = %d: %w", i, q, err)
		}
		if slices.Index(lit.Q, q) != i {
			return fmt.Errorf("Q[%d] = %d: repeated", i, q)
		}
		logQ += math.Log2(float64(q))
	}
	if logQ > bound {
		return fmt.Errorf("log2 Q = %.2f exceeds %.0f, the 128-bit security bound for LogN %d", logQ, bound, lit.LogN)
	}
	if lit.T < 3 || lit.T>>60 != 0 {
		return fmt.Errorf("T = %d: must have 2 to 60 bits", lit.T)
	}
	if err := checkNTTPrime(lit.T, twoN); err != nil {
		return fmt.Errorf("T = %d: %w", lit.T, err)
	}
	if lit.T >= lit.Q[0] || slices.Contains(lit.Q, lit.T) {
		return fmt.Errorf("T = %d: must be below Q[0] and not in Q", lit.T)
	}
	if need := math.Log2(float64(lit.T)) + FloodBits + noiseHeadroomBits; logQ < need {
		return fmt.Errorf("log2 Q = %.2f leaves no room for flooding: need at least %.2f (log2 T + %d + %d)", logQ, need, FloodBits, noiseHeadroomBits)
	}
	return nil
}

// checkNTTPrime reports whether q is a prime ≡ 1 mod twoN. ProbablyPrime is
// exact below 2^64.
func checkNTTPrime(q, twoN uint64) error {
	if !new(big.Int).SetUint64(q).ProbablyPrime(0) {
		return errors.New("not prime")
	}
	if q%twoN != 1 {
		return fmt.Errorf("not ≡ 1 mod 2N = %d", twoN)
	}
	return nil
}

// Literal returns a copy of the literal p was built from (for genesis export).
func (p *Params) Literal() ParamsLiteral {
	lit := p.lit
	lit.Q = slices.Clone(lit.Q)
	return lit
}

// Slots is the number of int64 values one ciphertext carries (N).
func (p *Params) Slots() int { return p.bgv.MaxSlots() }

// MaxAbs is the largest |value| a slot may hold: EncodeEncrypt refuses
// larger inputs, and a sum is exact only while every slot of the true sum
// stays within ±MaxAbs (callers bound their contributions accordingly).
func (p *Params) MaxAbs() int64 { return p.maxAbs }

// CiphertextSize is the exact length of a serialised ciphertext.
func (p *Params) CiphertextSize() int { return p.layouts[kindCiphertext].blobSize() }

// PublicKeyShareSize is the exact length of a collective-key (CKG) share.
func (p *Params) PublicKeyShareSize() int { return p.layouts[kindPublicKeyShare].blobSize() }

// PublicKeySize is the exact length of the collective public key and of a
// researcher's public key.
func (p *Params) PublicKeySize() int { return p.layouts[kindPublicKey].blobSize() }

// KeySwitchShareSize is the exact length of a key-switching share.
func (p *Params) KeySwitchShareSize() int { return p.layouts[kindKeySwitchShare].blobSize() }

// DecryptShareSize is the exact length of a public decryption share.
func (p *Params) DecryptShareSize() int { return p.layouts[kindDecryptShare].blobSize() }

// ThresholdShareSize is the exact length of one Shamir share (before the
// caller seals it to its recipient).
func (p *Params) ThresholdShareSize() int { return p.layouts[kindThresholdShare].blobSize() }

// ringQ is the ciphertext ring.
func (p *Params) ringQ() *ring.Ring { return p.bgv.RingQ() }
