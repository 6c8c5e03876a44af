package tx_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

// FuzzDecode: Decode never panics, refuses with one of its sentinels, and
// what it accepts is canonical, within the limit and decodes again to the
// same tx.
func FuzzDecode(f *testing.F) {
	priv := testKey("alice")
	good, err := tx.Build(priv, chainID, addressOf(priv), 3, "memo.post", &pb.PostMemo{Text: "hello"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good, uint64(0))
	f.Add(good, uint64(len(good)))
	f.Add(good, uint64(len(good)-1))
	f.Add(good[:len(good)/2], uint64(0))
	f.Add(withUnknownField(good), uint64(0))
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x01
	f.Add(flipped, uint64(0))
	f.Add([]byte{}, uint64(0))
	f.Add([]byte{0x0a, 0x00, 0x12, 0x00}, uint64(0))

	f.Fuzz(func(t *testing.T, raw []byte, maxBytes uint64) {
		d, err := tx.Decode(raw, maxBytes)
		if err != nil {
			if d != nil {
				t.Fatal("Decode returned a tx with its error")
			}
			if !errors.Is(err, tx.ErrDecode) && !errors.Is(err, tx.ErrTooLarge) {
				t.Fatalf("error %v wraps no sentinel", err)
			}
			return
		}
		if maxBytes > 0 && uint64(len(raw)) > maxBytes || len(raw) > tx.AbsoluteMaxBytes {
			t.Fatalf("accepted %d bytes over the limit %d", len(raw), maxBytes)
		}
		canon, err := proto.MarshalOptions{Deterministic: true}.Marshal(&pb.Tx{Body: d.BodyBytes, Signature: d.Signature})
		if err != nil || !bytes.Equal(canon, raw) {
			t.Fatalf("accepted a non-canonical envelope %x (canonical %x)", raw, canon)
		}
		again, err := tx.Decode(d.Raw, maxBytes)
		if err != nil {
			t.Fatalf("re-Decode of an accepted tx: %v", err)
		}
		if !bytes.Equal(again.Raw, d.Raw) || !bytes.Equal(again.BodyBytes, d.BodyBytes) ||
			!bytes.Equal(again.Signature, d.Signature) || !proto.Equal(again.Body, d.Body) {
			t.Fatalf("re-Decode differs: %v vs %v", again.Body, d.Body)
		}
		// Verify must not panic on whatever was accepted.
		_ = d.Verify(priv.Public().(ed25519.PublicKey))
	})
}

// payloadTypes are the messages tx.Unmarshal decodes from chain data.
var payloadTypes = []func() proto.Message{
	func() proto.Message { return &pb.Tx{} },
	func() proto.Message { return &pb.TxBody{} },
	func() proto.Message { return &pb.RegisterAccount{} },
	func() proto.Message { return &pb.PostMemo{} },
	func() proto.Message { return &pb.Account{} },
	func() proto.Message { return &pb.Hospital{} },
	func() proto.Message { return &pb.Params{} },
	func() proto.Message { return &pb.Memo{} },
	func() proto.Message { return &pb.HospitalList{} },
}

// FuzzUnmarshalPayload: tx.Unmarshal never panics and never lets an unknown
// field through, at any depth; what it accepts survives a re-encoding.
func FuzzUnmarshalPayload(f *testing.F) {
	for i, m := range []proto.Message{
		&pb.Tx{Body: []byte("b"), Signature: []byte("s")},
		&pb.TxBody{ChainId: chainID, Signer: "mc1", Nonce: 1, Type: "memo.post", Payload: []byte{1}},
		&pb.RegisterAccount{Pubkey: make([]byte, 32), Role: pb.Role_ROLE_DOCTOR, Label: "dr"},
		&pb.PostMemo{Text: "hello"},
		&pb.Account{Address: "mc1", Role: pb.Role_ROLE_PATIENT, Sequence: 9, CreatedHeight: 3},
		&pb.Hospital{Id: "h1", Power: 10},
		&pb.Params{MaxTxBytes: 1024, MaxMemoBytes: 10, MaxLabelBytes: 5},
		&pb.Memo{Author: "mc1", Nonce: 2, Text: "x", Height: 4},
		&pb.HospitalList{Hospitals: []*pb.Hospital{{Id: "h1"}, {Id: "h2"}}},
	} {
		bz, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(i), bz)
		f.Add(uint8(i), withUnknownField(bz))
	}
	f.Fuzz(func(t *testing.T, which uint8, bz []byte) {
		m := payloadTypes[int(which)%len(payloadTypes)]()
		if err := tx.Unmarshal(bz, m); err != nil {
			return
		}
		if hasUnknown(m.ProtoReflect()) {
			t.Fatalf("accepted %x with unknown fields into %T", bz, m)
		}
		re, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
		if err != nil {
			t.Fatalf("re-encode an accepted %T: %v", m, err)
		}
		m2 := payloadTypes[int(which)%len(payloadTypes)]()
		if err := tx.Unmarshal(re, m2); err != nil || !proto.Equal(m, m2) {
			t.Fatalf("%T does not survive a re-encoding: %v", m, err)
		}
	})
}

// hasUnknown reports unknown fields anywhere in m.
func hasUnknown(m protoreflect.Message) bool {
	if len(m.GetUnknown()) > 0 {
		return true
	}
	found := false
	m.Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		switch {
		case fd.Message() == nil:
		case fd.IsList():
			for i := 0; i < v.List().Len() && !found; i++ {
				found = hasUnknown(v.List().Get(i).Message())
			}
		default:
			found = hasUnknown(v.Message())
		}
		return !found
	})
	return found
}
