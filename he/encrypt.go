package he

import (
	"errors"
	"fmt"
	"math"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// EncodeEncrypt packs values (at most Slots of them, each within ±MaxAbs;
// missing slots are zero) into one BGV plaintext and encrypts it under the
// collective public key pk. Randomised: node workers only.
func (p *Params) EncodeEncrypt(pk []byte, values []int64) ([]byte, error) {
	if len(values) > p.Slots() {
		return nil, fmt.Errorf("he: %d values, at most %d slots", len(values), p.Slots())
	}
	for i, v := range values {
		if v > p.maxAbs || v < -p.maxAbs {
			return nil, fmt.Errorf("he: value %d at slot %d outside ±%d", v, i, p.maxAbs)
		}
	}
	key := new(rlwe.PublicKey)
	if err := p.decode(kindPublicKey, pk, key); err != nil {
		return nil, err
	}
	slots := make([]int64, p.Slots())
	copy(slots, values)
	pt := bgv.NewPlaintext(p.bgv, p.bgv.MaxLevel())
	if err := bgv.NewEncoder(p.bgv).Encode(slots, pt); err != nil {
		return nil, fmt.Errorf("he: encode: %w", err)
	}
	ct, err := bgv.NewEncryptor(p.bgv, key).EncryptNew(pt)
	if err != nil {
		return nil, fmt.Errorf("he: encrypt: %w", err)
	}
	return p.encode(kindCiphertext, nil, ct)
}

// ValidateCiphertext checks that b is a canonical ciphertext under the
// collective key: exact length and tag; degree 1, full level, ring degree,
// NTT flag, scale and every other metadata byte equal to the canonical
// form; every coefficient below its modulus. Contracts call it before
// storing a contribution.
func (p *Params) ValidateCiphertext(b []byte) error {
	_, _, err := p.split(kindCiphertext, b)
	return err
}

// Add returns the homomorphic sum of one or more ciphertexts under the
// collective key. Deterministic (exact addition mod each prime, so the
// result does not depend on the order either): the contract runs it in
// FinalizeBlock. It validates every input itself.
func (p *Params) Add(cts ...[]byte) ([]byte, error) {
	if len(cts) == 0 {
		return nil, errors.New("he: nothing to add")
	}
	eval := bgv.NewEvaluator(p.bgv, nil)
	var sum *rlwe.Ciphertext
	for i, b := range cts {
		ct, err := p.decodeCiphertext(kindCiphertext, b)
		if err != nil {
			return nil, fmt.Errorf("ciphertext %d: %w", i, err)
		}
		if i == 0 {
			sum = ct
		} else if err := eval.Add(sum, ct, sum); err != nil {
			return nil, fmt.Errorf("he: add ciphertext %d: %w", i, err)
		}
	}
	return p.encode(kindCiphertext, nil, sum)
}

func (p *Params) decodeCiphertext(k kind, b []byte) (*rlwe.Ciphertext, error) {
	ct := new(rlwe.Ciphertext)
	if err := p.decode(k, b, ct); err != nil {
		return nil, err
	}
	return ct, nil
}

// MaxFracBits bounds the fractional bits of ToFixed and FromFixed.
const MaxFracBits = 40

// ToFixed converts reals to fixed-point integers x·2^fracBits, rounded to
// nearest (halves away from zero), for EncodeEncrypt. It refuses NaN,
// infinities and results beyond ±2^62; EncodeEncrypt then enforces MaxAbs.
// Sums of fixed-point values keep the same scale; decode with FromFixed.
func ToFixed(xs []float64, fracBits uint) ([]int64, error) {
	if fracBits > MaxFracBits {
		return nil, fmt.Errorf("he: %d fractional bits, at most %d", fracBits, MaxFracBits)
	}
	out := make([]int64, len(xs))
	scale := math.Ldexp(1, int(fracBits))
	for i, x := range xs {
		y := math.Round(x * scale)
		if math.IsNaN(y) || math.Abs(y) > 1<<62 {
			return nil, fmt.Errorf("he: value %g at %d does not fit in fixed point with %d fractional bits", x, i, fracBits)
		}
		out[i] = int64(y)
	}
	return out, nil
}

// FromFixed converts fixed-point integers with fracBits fractional bits back
// to reals (exact while |v| < 2^53).
func FromFixed(vs []int64, fracBits uint) ([]float64, error) {
	if fracBits > MaxFracBits {
		return nil, fmt.Errorf("he: %d fractional bits, at most %d", fracBits, MaxFracBits)
	}
	out := make([]float64, len(vs))
	for i, v := range vs {
		out[i] = math.Ldexp(float64(v), -int(fracBits))
	}
	return out, nil
}
