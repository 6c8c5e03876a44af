package tx

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"regexp"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/medchain/medchain/contracts/pb"
)

// Sentinel errors. The ABCI code table (abci/codes.go) gives each a stable code.
var (
	ErrDecode       = errors.New("tx decode")
	ErrTooLarge     = errors.New("tx too large")
	ErrBadSignature = errors.New("bad signature")
)

// signDomain separates medchain tx signatures from any other use of the key.
const signDomain = "medchain/tx/v1\n"

// AbsoluteMaxBytes bounds what Decode accepts whatever the parameters say;
// it matches the mempool's max_tx_bytes written by `medchain init`.
const AbsoluteMaxBytes = 8 << 20

var (
	chainIDPattern = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9._-]{0,49}$`)
	typePattern    = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}\.[a-z][a-z0-9_]{0,31}$`)
	addressPattern = regexp.MustCompile(`^mc1[0-9a-f]{40}$`)
)

// SignBytes returns what the signer signs for the given encoded body.
func SignBytes(body []byte) []byte {
	out := make([]byte, 0, len(signDomain)+len(body))
	out = append(out, signDomain...)
	return append(out, body...)
}

// Hash is the tx hash CometBFT uses to index a tx (SHA-256 of its bytes).
func Hash(raw []byte) []byte {
	h := sha256.Sum256(raw)
	return h[:]
}

// Build encodes payload into a body for signer and signs it with priv.
// It is the only way clients should produce a tx.
func Build(priv ed25519.PrivateKey, chainID, signer string, nonce uint64, txType string, payload proto.Message) ([]byte, error) {
	pl, err := proto.MarshalOptions{Deterministic: true}.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode payload: %w", err)
	}
	body := &pb.TxBody{ChainId: chainID, Signer: signer, Nonce: nonce, Type: txType, Payload: pl}
	if err := validateBody(body); err != nil {
		return nil, err
	}
	bb, err := proto.MarshalOptions{Deterministic: true}.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("encode body: %w", err)
	}
	sig := ed25519.Sign(priv, SignBytes(bb))
	return proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Tx{Body: bb, Signature: sig})
}

// Decoded is a tx that passed Decode: well formed, within size, but not yet
// authenticated (the signer's key lives in state; see Verify).
type Decoded struct {
	Raw       []byte
	BodyBytes []byte
	Body      *pb.TxBody
	Signature []byte
}

// Decode parses raw strictly. maxBytes is the alliance's current limit
// (params); AbsoluteMaxBytes applies whatever it says.
func Decode(raw []byte, maxBytes uint64) (*Decoded, error) {
	limit := uint64(AbsoluteMaxBytes)
	if maxBytes > 0 && maxBytes < limit {
		limit = maxBytes
	}
	if uint64(len(raw)) > limit {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(raw), limit)
	}
	if len(raw) == 0 {
		return nil, fmt.Errorf("%w: empty tx", ErrDecode)
	}
	var env pb.Tx
	if err := Unmarshal(raw, &env); err != nil {
		return nil, fmt.Errorf("%w: envelope: %v", ErrDecode, err)
	}
	// One signed body must travel as one byte string, or a relayer could
	// re-encode a tx under a new hash (reordered or repeated fields, overlong
	// lengths) and have the signer's own copy refused as a replay.
	if canon, err := (proto.MarshalOptions{Deterministic: true}).Marshal(&env); err != nil || !bytes.Equal(canon, raw) {
		return nil, fmt.Errorf("%w: envelope is not canonically encoded (build txs with tx.Build)", ErrDecode)
	}
	if len(env.Signature) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: signature is %d bytes, want %d", ErrDecode, len(env.Signature), ed25519.SignatureSize)
	}
	var body pb.TxBody
	if err := Unmarshal(env.Body, &body); err != nil {
		return nil, fmt.Errorf("%w: body: %v", ErrDecode, err)
	}
	if err := validateBody(&body); err != nil {
		return nil, err
	}
	return &Decoded{Raw: raw, BodyBytes: env.Body, Body: &body, Signature: env.Signature}, nil
}

func validateBody(b *pb.TxBody) error {
	switch {
	case !chainIDPattern.MatchString(b.ChainId):
		return fmt.Errorf("%w: chain id %q is not valid (letters, digits, '.', '_', '-'; at most 50)", ErrDecode, b.ChainId)
	case !addressPattern.MatchString(b.Signer):
		return fmt.Errorf("%w: signer %q is not an address (mc1 + 40 lowercase hex digits)", ErrDecode, b.Signer)
	case !typePattern.MatchString(b.Type):
		return fmt.Errorf("%w: tx type %q is not of the form group.action", ErrDecode, b.Type)
	}
	return nil
}

// Verify checks the signature with the signer's public key.
func (d *Decoded) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: signer key is %d bytes", ErrBadSignature, len(pub))
	}
	if !ed25519.Verify(pub, SignBytes(d.BodyBytes), d.Signature) {
		return fmt.Errorf("%w: does not verify with %s's key", ErrBadSignature, d.Body.Signer)
	}
	return nil
}

// Unmarshal decodes b into m and refuses unknown fields anywhere in it.
// Every decoder of chain data goes through here.
func Unmarshal(b []byte, m proto.Message) error {
	if err := (proto.UnmarshalOptions{DiscardUnknown: false}).Unmarshal(b, m); err != nil {
		return err
	}
	return rejectUnknown(m.ProtoReflect(), string(m.ProtoReflect().Descriptor().Name()))
}

func rejectUnknown(m protoreflect.Message, path string) error {
	if u := m.GetUnknown(); len(u) > 0 {
		return fmt.Errorf("unknown field in %s (%d bytes); is the client newer than the chain?", path, len(u))
	}
	var err error
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		if fd.Message() == nil {
			return true
		}
		p := path + "." + string(fd.Name())
		switch {
		case fd.IsList():
			l := v.List()
			for i := 0; i < l.Len() && err == nil; i++ {
				err = rejectUnknown(l.Get(i).Message(), fmt.Sprintf("%s[%d]", p, i))
			}
		case fd.IsMap():
			err = fmt.Errorf("map field %s is not allowed in chain data", p)
		default:
			err = rejectUnknown(v.Message(), p)
		}
		return err == nil
	})
	return err
}
