package he

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// FloodBits sets the noise flooding every key-switching and decryption
// share carries: each coefficient gets an independent integer drawn
// uniformly from [−2^FloodBits, 2^FloodBits] with crypto/rand. FLOODING.md
// gives the statistical-distance argument. It is local to each member (no
// validator can see it), so changing it needs no chain upgrade; NewParams
// checks that Q leaves room for it.
const FloodBits = 100

// protocolNoise is the Gaussian that Lattigo's key-switching protocols add
// themselves. It is kept at the ordinary σ = 3.2: Lattigo's sampler is not
// fit for flooding-size σ (about 32 bits of entropy per sample, and wrong
// values once 6σ ≥ q), so the flooding is ours (addFlood).
var protocolNoise = ring.DiscreteGaussian{Sigma: rlwe.DefaultNoise, Bound: rlwe.DefaultNoiseBound}

// addFlood adds to poly, which is in the NTT domain, the NTT of a
// polynomial whose coefficients are independent and uniform in
// [−2^FloodBits, 2^FloodBits], then reduces poly to canonical form.
func (p *Params) addFlood(poly ring.Poly) error {
	ringQ := p.ringQ()
	f := ringQ.NewPoly()
	moduli := ringQ.ModuliChain()
	const (
		// hi carries the top FloodBits+2−64 bits of a draw, lo the low 64.
		hiBits    = FloodBits + 2 - 64
		hiBytes   = (hiBits + 7) / 8
		drawBytes = hiBytes + 8
		bound     = uint64(1) << (FloodBits - 64) // 2^FloodBits as (bound, 0)
	)
	buf := make([]byte, drawBytes*p.bgv.N()*2)
	next := len(buf)
	for j := 0; j < p.bgv.N(); {
		if next+drawBytes > len(buf) {
			if _, err := rand.Read(buf); err != nil {
				return fmt.Errorf("he: flooding randomness: %w", err)
			}
			next = 0
		}
		// x = hi·2^64 + lo is uniform in [0, 2^(FloodBits+2)); keep it if
		// x ≤ 2^(FloodBits+1), so v = x − 2^FloodBits is uniform in
		// [−2^FloodBits, 2^FloodBits] (acceptance just over 1/2).
		var hi uint64
		for k := range hiBytes {
			hi |= uint64(buf[next+k]) << (8 * k)
		}
		hi &= 4*bound - 1
		lo := binary.LittleEndian.Uint64(buf[next+hiBytes:])
		next += drawBytes
		if hi > 2*bound || (hi == 2*bound && lo != 0) {
			continue
		}
		// |v| as (mhi, mlo), and its sign.
		var mhi, mlo uint64
		neg := hi < bound
		if neg {
			var borrow uint64
			mlo, borrow = bits.Sub64(0, lo, 0)
			mhi = bound - hi - borrow
		} else {
			mhi, mlo = hi-bound, lo
		}
		for i, q := range moduli {
			r := bits.Rem64(mhi, mlo, q)
			if neg && r != 0 {
				r = q - r
			}
			f.Coeffs[i][j] = r
		}
		j++
	}
	ringQ.NTT(f, f)
	ringQ.Add(poly, f, poly)
	ringQ.Reduce(poly, poly)
	return nil
}

// GenKeySwitchShare returns member ts.Index()'s share for switching the
// collective-key ciphertext ct to the researcher's public key targetPub:
// the Public-Key-Switch share of its additive secret for activeSet (σ = 3.2
// inside Lattigo), plus our uniform flooding on the first component.
//
// activeSet is the exact set of t members the chain fixed for this request,
// own index included. Randomised: node workers only. A member must produce
// at most one share per ciphertext, ever: a second share for the same
// ciphertext (or any ciphertext with the same mask, see MaskDigest), even
// for another active set, is a protocol retry that leaks its secret. The
// node stores the share it made and resends those bytes if needed.
func (p *Params) GenKeySwitchShare(ts *ThresholdSecret, activeSet []uint64, ct, targetPub []byte) ([]byte, error) {
	sk, err := p.additiveShare(ts, activeSet)
	if err != nil {
		return nil, err
	}
	in, err := p.decodeCiphertext(kindCiphertext, ct)
	if err != nil {
		return nil, err
	}
	pk := new(rlwe.PublicKey)
	if err := p.decode(kindResearcherKey, targetPub, pk); err != nil {
		return nil, err
	}
	pcks, err := multiparty.NewPublicKeySwitchProtocol(p.bgv, protocolNoise)
	if err != nil {
		return nil, fmt.Errorf("he: key switch: %w", err)
	}
	share := pcks.AllocateShare(in.Level())
	pcks.GenShare(sk, pk, in, &share)
	if err := p.addFlood(share.Value[0]); err != nil {
		return nil, err
	}
	return p.encode(kindKeySwitchShare, nil, share)
}

// ValidateKeySwitchShare checks that b is a canonical key-switching share.
func (p *Params) ValidateKeySwitchShare(b []byte) error {
	_, _, err := p.split(kindKeySwitchShare, b)
	return err
}

// KeySwitch sums the key-switching shares of the active set and applies
// them to ct, returning ct re-encrypted under the researcher's key (a
// result ciphertext, which only Decrypt accepts). Deterministic and
// independent of the order of shares: the contract runs it in
// FinalizeBlock once all t shares of the request are in. It validates
// every input itself but cannot tell whether the shares come from the
// request's active set; with fewer or other shares the result decrypts to
// noise.
func (p *Params) KeySwitch(ct []byte, shares [][]byte) ([]byte, error) {
	if len(shares) == 0 {
		return nil, errors.New("he: no key-switching shares")
	}
	in, err := p.decodeCiphertext(kindCiphertext, ct)
	if err != nil {
		return nil, err
	}
	pcks, err := multiparty.NewPublicKeySwitchProtocol(p.bgv, protocolNoise)
	if err != nil {
		return nil, fmt.Errorf("he: key switch: %w", err)
	}
	sum, err := sumShares(p, kindKeySwitchShare, shares, pcks.AggregateShares)
	if err != nil {
		return nil, err
	}
	out := bgv.NewCiphertext(p.bgv, 1, in.Level())
	pcks.KeySwitch(in, sum, out)
	return p.encode(kindResultCiphertext, nil, out)
}

// GenDecryptShare returns member ts.Index()'s share for decrypting ct in
// public (a key switch to the zero key, Lattigo's KeySwitchProtocol), with
// the same flooding and the same one-share-per-ciphertext rule as
// GenKeySwitchShare. The contract uses it for figures every member may see,
// such as a noised cohort count. Randomised: node workers only.
func (p *Params) GenDecryptShare(ts *ThresholdSecret, activeSet []uint64, ct []byte) ([]byte, error) {
	sk, err := p.additiveShare(ts, activeSet)
	if err != nil {
		return nil, err
	}
	in, err := p.decodeCiphertext(kindCiphertext, ct)
	if err != nil {
		return nil, err
	}
	cks, err := multiparty.NewKeySwitchProtocol(p.bgv, protocolNoise)
	if err != nil {
		return nil, fmt.Errorf("he: decryption share: %w", err)
	}
	share := cks.AllocateShare(in.Level())
	cks.GenShare(sk, rlwe.NewSecretKey(p.bgv), in, &share)
	if err := p.addFlood(share.Value); err != nil {
		return nil, err
	}
	return p.encode(kindDecryptShare, nil, share)
}

// ValidateDecryptShare checks that b is a canonical decryption share.
func (p *Params) ValidateDecryptShare(b []byte) error {
	_, _, err := p.split(kindDecryptShare, b)
	return err
}

// DecryptPublic sums the decryption shares of the active set, applies them
// to ct and decodes the result: Slots signed values. Deterministic: the
// contract may run it in FinalizeBlock. With fewer or other shares than the
// request's active set the values are noise.
func (p *Params) DecryptPublic(ct []byte, shares [][]byte) ([]int64, error) {
	if len(shares) == 0 {
		return nil, errors.New("he: no decryption shares")
	}
	in, err := p.decodeCiphertext(kindCiphertext, ct)
	if err != nil {
		return nil, err
	}
	cks, err := multiparty.NewKeySwitchProtocol(p.bgv, protocolNoise)
	if err != nil {
		return nil, fmt.Errorf("he: decryption: %w", err)
	}
	sum, err := sumShares(p, kindDecryptShare, shares, cks.AggregateShares)
	if err != nil {
		return nil, err
	}
	out := bgv.NewCiphertext(p.bgv, 1, in.Level())
	cks.KeySwitch(in, sum, out)
	return p.decryptDecode(rlwe.NewSecretKey(p.bgv), out)
}

// sumShares decodes shares of kind k (each validated against its
// template) and adds them with agg, a Lattigo protocol's AggregateShares:
// the common step of KeySwitch and DecryptPublic.
func sumShares[S any, PS interface {
	*S
	encoding.BinaryUnmarshaler
}](p *Params, k kind, shares [][]byte, agg func(a, b S, out *S) error) (S, error) {
	var sum S
	for i, b := range shares {
		var s S
		if err := p.decode(k, b, PS(&s)); err != nil {
			return sum, fmt.Errorf("share %d: %w", i, err)
		}
		if i == 0 {
			sum = s
		} else if err := agg(sum, s, &sum); err != nil {
			return sum, fmt.Errorf("he: share %d: %w", i, err)
		}
	}
	return sum, nil
}

// MaskDigest returns SHA-256 of the mask c1 of a collective-key ciphertext:
// the public polynomial both key-switching protocols run on. Two
// ciphertexts with the same mask are, for the protocols, the same input,
// and a member can craft one (its contribution chosen after seeing the
// others') to make a new aggregate share an old one's mask. The chain
// should record the digest of every ciphertext it key-switches or decrypts
// and refuse a second request on the same digest.
func (p *Params) MaskDigest(ct []byte) ([32]byte, error) {
	if err := p.ValidateCiphertext(ct); err != nil {
		return [32]byte{}, err
	}
	polySize := 8 + len(p.lit.Q)*(8+8*p.bgv.N())
	return sha256.Sum256(ct[len(ct)-polySize:]), nil
}

func (p *Params) decryptDecode(sk *rlwe.SecretKey, ct *rlwe.Ciphertext) ([]int64, error) {
	pt := rlwe.NewDecryptor(p.bgv, sk).DecryptNew(ct)
	values := make([]int64, p.Slots())
	if err := bgv.NewEncoder(p.bgv).Decode(pt, values); err != nil {
		return nil, fmt.Errorf("he: decode: %w", err)
	}
	return values, nil
}
