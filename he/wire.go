package he

import (
	"bytes"
	"encoding"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/tuneinsight/lattigo/v6/core/rlwe"
	"github.com/tuneinsight/lattigo/v6/multiparty"
	"github.com/tuneinsight/lattigo/v6/ring"
	"github.com/tuneinsight/lattigo/v6/schemes/bgv"
)

// Every object this package serialises is a blob
//
//	'm' 'h' 'e' kind | kind-specific fields | Lattigo MarshalBinary bytes
//
// The tag keeps one kind of blob from being taken for another (a secret
// share and a collective-key share have the same Lattigo layout). The
// Lattigo part of each kind has one exact length for a parameter set, and
// every byte of it is either structure (lengths, counts, the JSON metadata
// of a ciphertext) or a little-endian uint64 coefficient. The validators
// compare the structure bytes with a canonical template, a zero object of
// the expected shape marshalled by Lattigo itself, and check every
// coefficient against its modulus. Only bytes that pass reach Lattigo's
// UnmarshalBinary, which is not safe on hostile input: a truncated
// ciphertext overflows the stack (unrecoverable), a crafted length panics
// in makeslice, and a wrong scale panics later in Add or is kept silently.

// ErrMalformed is wrapped by every error that reports a blob failing
// validation: wrong length, kind, structure byte or out-of-range value.
var ErrMalformed = errors.New("he: malformed")

// kind is the fourth byte of every blob. The values are wire format: never
// renumber or reuse one.
type kind byte

const (
	kindPublicKeyShare kind = iota + 1
	kindPublicKey
	kindResearcherKey
	kindResearcherSecret
	kindCiphertext
	kindKeySwitchShare
	kindDecryptShare
	kindSecretShare
	kindThresholdShare
	kindThresholdSecret
	kindResultCiphertext
	numKinds
)

var kindNames = [numKinds]string{
	kindPublicKeyShare:   "collective-key share",
	kindPublicKey:        "collective public key",
	kindResearcherKey:    "researcher public key",
	kindResearcherSecret: "researcher secret key",
	kindCiphertext:       "ciphertext",
	kindKeySwitchShare:   "key-switching share",
	kindDecryptShare:     "decryption share",
	kindSecretShare:      "secret share",
	kindThresholdShare:   "threshold share",
	kindThresholdSecret:  "threshold secret",
	kindResultCiphertext: "result ciphertext",
}

func (k kind) String() string { return kindNames[k] }

const tagSize = 4

func tag(k kind) [tagSize]byte { return [tagSize]byte{'m', 'h', 'e', byte(k)} }

// span is a structure region [lo, hi) of the Lattigo bytes.
type span struct{ lo, hi int }

// coeffSpan is a region [lo, hi) of little-endian uint64 coefficients, each
// of which must be below q.
type coeffSpan struct {
	lo, hi int
	q      uint64
}

// layout is the canonical shape of one kind of blob.
type layout struct {
	kind   kind
	fields int    // bytes of kind-specific fields between tag and Lattigo bytes
	tmpl   []byte // Lattigo bytes of a zero object of the expected shape
	fixed  []span
	coeffs []coeffSpan
}

func (l *layout) blobSize() int { return tagSize + l.fields + len(l.tmpl) }

// checkBody validates the Lattigo part of a blob: exact length, structure
// bytes equal to the template, every coefficient below its modulus.
func (l *layout) checkBody(b []byte) error {
	if len(b) != len(l.tmpl) {
		return fmt.Errorf("%w %s: Lattigo part is %d bytes, want %d", ErrMalformed, l.kind, len(b), len(l.tmpl))
	}
	for _, s := range l.fixed {
		if !bytes.Equal(b[s.lo:s.hi], l.tmpl[s.lo:s.hi]) {
			i := s.lo
			for b[i] == l.tmpl[i] {
				i++
			}
			return fmt.Errorf("%w %s: structure byte %d differs from the canonical form", ErrMalformed, l.kind, i)
		}
	}
	for _, c := range l.coeffs {
		for i := c.lo; i < c.hi; i += 8 {
			if binary.LittleEndian.Uint64(b[i:]) >= c.q {
				return fmt.Errorf("%w %s: coefficient at byte %d is not below its modulus %d", ErrMalformed, l.kind, i, c.q)
			}
		}
	}
	return nil
}

// split checks a whole blob's length and tag and returns its fields and its
// Lattigo part, the latter validated.
func (p *Params) split(k kind, b []byte) (fields, body []byte, err error) {
	l := p.layouts[k]
	if len(b) != l.blobSize() {
		return nil, nil, fmt.Errorf("%w %s: %d bytes, want %d", ErrMalformed, k, len(b), l.blobSize())
	}
	if t := tag(k); !bytes.Equal(b[:tagSize], t[:]) {
		return nil, nil, fmt.Errorf("%w %s: tag %x, want %x", ErrMalformed, k, b[:tagSize], t[:])
	}
	fields, body = b[tagSize:tagSize+l.fields], b[tagSize+l.fields:]
	if err := l.checkBody(body); err != nil {
		return nil, nil, err
	}
	return fields, body, nil
}

// decode validates a blob of kind k without fields and unmarshals it into
// obj. Lattigo sees only bytes that passed the validator; the recover is
// defence in depth, not the guard.
func (p *Params) decode(k kind, b []byte, obj encoding.BinaryUnmarshaler) error {
	_, body, err := p.split(k, b)
	if err != nil {
		return err
	}
	return unmarshal(k, body, obj)
}

func unmarshal(k kind, body []byte, obj encoding.BinaryUnmarshaler) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w %s: Lattigo refused validated bytes: %v", ErrMalformed, k, r)
		}
	}()
	if err := obj.UnmarshalBinary(body); err != nil {
		return fmt.Errorf("%w %s: %v", ErrMalformed, k, err)
	}
	return nil
}

// encode serialises obj as a blob of kind k with the given fields.
func (p *Params) encode(k kind, fields []byte, obj encoding.BinaryMarshaler) ([]byte, error) {
	body, err := obj.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("he: marshal %s: %w", k, err)
	}
	l := p.layouts[k]
	if len(fields) != l.fields || len(body) != len(l.tmpl) {
		// A broken invariant: the object was built from these parameters.
		return nil, fmt.Errorf("he: marshal %s: %d+%d bytes, want %d+%d", k, len(fields), len(body), l.fields, len(l.tmpl))
	}
	out := make([]byte, 0, l.blobSize())
	t := tag(k)
	out = append(append(append(out, t[:]...), fields...), body...)
	return out, nil
}

// layoutBuilder walks the serialised form of a Lattigo object as it is
// known to be laid out (structs.Matrix/Vector: uint64 length then items;
// ring.Poly: a Matrix of one row per modulus; ringqp.Poly: Q then P;
// Element: a metadata flag, the JSON metadata, then a Vector of polys),
// checking that walk against a real template as it goes.
type layoutBuilder struct {
	l   *layout
	off int
	err error
}

func (lb *layoutBuilder) structure(n int) {
	if lb.err != nil {
		return
	}
	if lb.off+n > len(lb.l.tmpl) {
		lb.err = fmt.Errorf("%s template: %d bytes, layout runs past it", lb.l.kind, len(lb.l.tmpl))
		return
	}
	if f := lb.l.fixed; len(f) > 0 && f[len(f)-1].hi == lb.off {
		f[len(f)-1].hi += n
	} else {
		lb.l.fixed = append(lb.l.fixed, span{lb.off, lb.off + n})
	}
	lb.off += n
}

func (lb *layoutBuilder) count(v uint64) {
	at := lb.off
	lb.structure(8)
	if lb.err == nil && binary.LittleEndian.Uint64(lb.l.tmpl[at:]) != v {
		lb.err = fmt.Errorf("%s template: length field at byte %d is %d, want %d", lb.l.kind, at, binary.LittleEndian.Uint64(lb.l.tmpl[at:]), v)
	}
}

func (lb *layoutBuilder) poly(moduli []uint64, n int) {
	lb.count(uint64(len(moduli)))
	for _, q := range moduli {
		lb.count(uint64(n))
		if lb.err != nil {
			return
		}
		lo, hi := lb.off, lb.off+8*n
		if hi > len(lb.l.tmpl) {
			lb.err = fmt.Errorf("%s template: %d bytes, layout runs past it", lb.l.kind, len(lb.l.tmpl))
			return
		}
		if !allZero(lb.l.tmpl[lo:hi]) {
			lb.err = fmt.Errorf("%s template: coefficients at byte %d are not zero", lb.l.kind, lo)
			return
		}
		lb.l.coeffs = append(lb.l.coeffs, coeffSpan{lo, hi, q})
		lb.off = hi
	}
}

func (lb *layoutBuilder) qpPoly(q []uint64, n int) {
	lb.poly(q, n)
	lb.poly(nil, n) // P is empty
}

func (lb *layoutBuilder) done() (*layout, error) {
	if lb.err == nil && lb.off != len(lb.l.tmpl) {
		lb.err = fmt.Errorf("%s template: %d bytes, layout covers %d", lb.l.kind, len(lb.l.tmpl), lb.off)
	}
	if lb.err != nil {
		// The Lattigo serialisation is not what this package expects.
		return nil, fmt.Errorf("unexpected Lattigo serialisation: %w", lb.err)
	}
	return lb.l, nil
}

func allZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// Field sizes of the kinds that carry fields (see threshold.go).
const (
	thresholdShareFields = 3 * 8 // dealer, recipient, threshold
)

// buildLayouts marshals one zero object of each kind and derives its
// canonical layout.
func (p *Params) buildLayouts() error {
	n, q := p.bgv.N(), p.lit.Q
	maxLevel := p.bgv.MaxLevel()

	newLB := func(k kind, fields int, obj encoding.BinaryMarshaler) (*layoutBuilder, error) {
		tmpl, err := obj.MarshalBinary()
		if err != nil {
			return nil, fmt.Errorf("%s template: %w", k, err)
		}
		return &layoutBuilder{l: &layout{kind: k, fields: fields, tmpl: tmpl}}, nil
	}
	qpPoly := func(k kind, fields int, obj encoding.BinaryMarshaler) error {
		lb, err := newLB(k, fields, obj)
		if err != nil {
			return err
		}
		lb.qpPoly(q, n)
		p.layouts[k], err = lb.done()
		return err
	}
	publicKey := func(k kind) error {
		lb, err := newLB(k, 0, rlwe.NewPublicKey(p.bgv))
		if err != nil {
			return err
		}
		lb.count(2)
		lb.qpPoly(q, n)
		lb.qpPoly(q, n)
		p.layouts[k], err = lb.done()
		return err
	}
	element := func(k kind, el *rlwe.Element[ring.Poly]) error {
		lb, err := newLB(k, 0, el)
		if err != nil {
			return err
		}
		lb.structure(1 + el.MetaData.BinarySize())
		if lb.err == nil && lb.l.tmpl[0] != 1 {
			lb.err = fmt.Errorf("%s template: no metadata", k)
		}
		lb.count(2)
		lb.poly(q, n)
		lb.poly(q, n)
		p.layouts[k], err = lb.done()
		return err
	}

	ringQP := p.bgv.RingQP()
	if err := qpPoly(kindPublicKeyShare, 0, multiparty.PublicKeyGenShare{Value: ringQP.NewPoly()}); err != nil {
		return err
	}
	if err := qpPoly(kindSecretShare, 0, rlwe.NewSecretKey(p.bgv)); err != nil {
		return err
	}
	if err := qpPoly(kindResearcherSecret, 0, rlwe.NewSecretKey(p.bgv)); err != nil {
		return err
	}
	if err := qpPoly(kindThresholdShare, thresholdShareFields, multiparty.ShamirSecretShare{Poly: ringQP.NewPoly()}); err != nil {
		return err
	}
	// The threshold secret has a variable-length member list; its layout
	// covers the fixed fields only and threshold.go checks the rest.
	if err := qpPoly(kindThresholdSecret, 0, multiparty.ShamirSecretShare{Poly: ringQP.NewPoly()}); err != nil {
		return err
	}
	if err := publicKey(kindPublicKey); err != nil {
		return err
	}
	if err := publicKey(kindResearcherKey); err != nil {
		return err
	}
	ct := bgv.NewCiphertext(p.bgv, 1, maxLevel)
	if err := element(kindCiphertext, &ct.Element); err != nil {
		return err
	}
	if err := element(kindResultCiphertext, &ct.Element); err != nil {
		return err
	}
	pcks, err := multiparty.NewPublicKeySwitchProtocol(p.bgv, protocolNoise)
	if err != nil {
		return err
	}
	ksShare := pcks.AllocateShare(maxLevel)
	if err := element(kindKeySwitchShare, &ksShare.Element); err != nil {
		return err
	}
	lb, err := newLB(kindDecryptShare, 0, multiparty.KeySwitchShare{Value: p.ringQ().NewPoly()})
	if err != nil {
		return err
	}
	lb.poly(q, n)
	p.layouts[kindDecryptShare], err = lb.done()
	return err
}
