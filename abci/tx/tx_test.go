package tx_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

const chainID = "medchain-test-1"

// testKey derives a reproducible key from a name.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("tx test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func addressOf(priv ed25519.PrivateKey) string {
	return pb.AddressOf(priv.Public().(ed25519.PublicKey))
}

// marshal encodes m deterministically, as Build does.
func marshal(t testing.TB, m proto.Message) []byte {
	t.Helper()
	bz, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bz
}

// validBody is the body every crafted tx starts from.
func validBody(t testing.TB, priv ed25519.PrivateKey) *pb.TxBody {
	t.Helper()
	return &pb.TxBody{
		ChainId: chainID, Signer: addressOf(priv), Nonce: 7, Type: "memo.post",
		Payload: marshal(t, &pb.PostMemo{Text: "hello"}),
	}
}

// envelope signs bodyBytes with priv and wraps them, bypassing Build's
// checks, so tests can craft txs Build would refuse to make.
func envelope(t testing.TB, priv ed25519.PrivateKey, bodyBytes []byte) []byte {
	t.Helper()
	return marshal(t, &pb.Tx{Body: bodyBytes, Signature: ed25519.Sign(priv, tx.SignBytes(bodyBytes))})
}

// withUnknownField appends field 99 (bytes) to an encoded message.
func withUnknownField(bz []byte) []byte {
	out := bytes.Clone(bz)
	out = protowire.AppendTag(out, 99, protowire.BytesType)
	return protowire.AppendBytes(out, []byte("from the future"))
}

func TestBuildThenDecodeRoundTrips(t *testing.T) {
	priv := testKey("alice")
	payload := &pb.RegisterAccount{Pubkey: testKey("bob").Public().(ed25519.PublicKey), Role: pb.Role_ROLE_PATIENT, Label: "bob"}
	raw, err := tx.Build(priv, chainID, addressOf(priv), 42, "account.register", payload)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	d, err := tx.Decode(raw, 0)
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	want := &pb.TxBody{ChainId: chainID, Signer: addressOf(priv), Nonce: 42, Type: "account.register", Payload: marshal(t, payload)}
	if !proto.Equal(d.Body, want) {
		t.Errorf("body = %v, want %v", d.Body, want)
	}
	if !bytes.Equal(d.Raw, raw) {
		t.Error("Raw is not the decoded bytes")
	}
	if err := d.Verify(priv.Public().(ed25519.PublicKey)); err != nil {
		t.Errorf("Verify: %v", err)
	}
	var got pb.RegisterAccount
	if err := tx.Unmarshal(d.Body.Payload, &got); err != nil || !proto.Equal(&got, payload) {
		t.Errorf("payload = %v (%v), want %v", &got, err, payload)
	}

	again, err := tx.Build(priv, chainID, addressOf(priv), 42, "account.register", payload)
	if err != nil || !bytes.Equal(again, raw) {
		t.Error("Build is not deterministic: the same inputs gave different bytes")
	}
	if h := tx.Hash(raw); len(h) != sha256.Size || !bytes.Equal(h, tx.Hash(again)) {
		t.Errorf("Hash = %x, want the 32-byte SHA-256 of the tx", h)
	}
}

func TestBuildRefusesWhatDecodeWouldRefuse(t *testing.T) {
	priv := testKey("alice")
	tests := []struct {
		name                  string
		chainID, signer, kind string
	}{
		{"an empty chain id is refused", "", addressOf(priv), "memo.post"},
		{"a signer that is not an address is refused", chainID, "alice", "memo.post"},
		{"a type without a group is refused", chainID, addressOf(priv), "post"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tx.Build(priv, tt.chainID, tt.signer, 0, tt.kind, &pb.PostMemo{Text: "x"})
			if !errors.Is(err, tx.ErrDecode) {
				t.Fatalf("err = %v, want ErrDecode", err)
			}
		})
	}
}

func TestDecodeRejects(t *testing.T) {
	priv := testKey("alice")
	good := envelope(t, priv, marshal(t, validBody(t, priv)))
	// withBody returns a correctly signed tx whose body has been changed by edit.
	withBody := func(edit func(b *pb.TxBody)) []byte {
		b := validBody(t, priv)
		edit(b)
		return envelope(t, priv, marshal(t, b))
	}
	bodyBytes := marshal(t, validBody(t, priv))
	sig := ed25519.Sign(priv, tx.SignBytes(bodyBytes))

	tests := []struct {
		name     string
		raw      []byte
		maxBytes uint64
		want     error
		// inLog is a fragment the error must contain, so the log says what was wrong.
		inLog string
	}{
		{"a nil tx is refused", nil, 0, tx.ErrDecode, "empty"},
		{"an empty tx is refused", []byte{}, 0, tx.ErrDecode, "empty"},
		{"a tx one byte over the alliance limit is too large", good, uint64(len(good) - 1), tx.ErrTooLarge, "limit"},
		{"a tx over the absolute limit is too large with no alliance limit", make([]byte, tx.AbsoluteMaxBytes+1), 0, tx.ErrTooLarge, "limit"},
		{"a tx over the absolute limit is too large whatever the alliance says", make([]byte, tx.AbsoluteMaxBytes+1), 1 << 40, tx.ErrTooLarge, "limit"},
		{"garbage bytes are refused", []byte{0xff, 0xff, 0xff, 0xff}, 0, tx.ErrDecode, "envelope"},
		{"a truncated tx is refused", good[:len(good)-10], 0, tx.ErrDecode, ""},
		{"an unknown field in the envelope is refused", withUnknownField(good), 0, tx.ErrDecode, "unknown field"},
		{"an unknown field in the body is refused even when signed", envelope(t, priv, withUnknownField(bodyBytes)), 0, tx.ErrDecode, "unknown field"},
		{"a body of the wrong wire type is refused", marshal(t, &pb.Tx{Body: []byte{0x08, 0x01}, Signature: sig}), 0, tx.ErrDecode, "body"},
		{"a missing signature is refused", marshal(t, &pb.Tx{Body: bodyBytes}), 0, tx.ErrDecode, "signature"},
		{"a short signature is refused", marshal(t, &pb.Tx{Body: bodyBytes, Signature: sig[:63]}), 0, tx.ErrDecode, "signature"},
		{"a long signature is refused", marshal(t, &pb.Tx{Body: bodyBytes, Signature: append(bytes.Clone(sig), 0)}), 0, tx.ErrDecode, "signature"},
		{"a missing body is refused", marshal(t, &pb.Tx{Signature: sig}), 0, tx.ErrDecode, "chain id"},
		{"an empty chain id is refused", withBody(func(b *pb.TxBody) { b.ChainId = "" }), 0, tx.ErrDecode, "chain id"},
		{"a chain id with a space is refused", withBody(func(b *pb.TxBody) { b.ChainId = "med chain" }), 0, tx.ErrDecode, "chain id"},
		{"a chain id of 51 characters is refused", withBody(func(b *pb.TxBody) { b.ChainId = strings.Repeat("c", 51) }), 0, tx.ErrDecode, "chain id"},
		{"a chain id that is not UTF-8 is refused", envelope(t, priv, append(protowire.AppendString(protowire.AppendTag(nil, 1, protowire.BytesType), "medchain\xff"),
			marshal(t, func() *pb.TxBody { b := validBody(t, priv); b.ChainId = ""; return b }())...)), 0, tx.ErrDecode, "body"},
		{"an empty signer is refused", withBody(func(b *pb.TxBody) { b.Signer = "" }), 0, tx.ErrDecode, "signer"},
		{"a signer in upper case is refused", withBody(func(b *pb.TxBody) { b.Signer = strings.ToUpper(addressOf(priv)) }), 0, tx.ErrDecode, "signer"},
		{"a signer one digit short is refused", withBody(func(b *pb.TxBody) { b.Signer = addressOf(priv)[:42] }), 0, tx.ErrDecode, "signer"},
		{"a signer with another prefix is refused", withBody(func(b *pb.TxBody) { b.Signer = "xx1" + addressOf(priv)[3:] }), 0, tx.ErrDecode, "signer"},
		{"an empty type is refused", withBody(func(b *pb.TxBody) { b.Type = "" }), 0, tx.ErrDecode, "tx type"},
		{"a type without a group is refused", withBody(func(b *pb.TxBody) { b.Type = "post" }), 0, tx.ErrDecode, "tx type"},
		{"a type in upper case is refused", withBody(func(b *pb.TxBody) { b.Type = "Memo.Post" }), 0, tx.ErrDecode, "tx type"},
		{"a type with three parts is refused", withBody(func(b *pb.TxBody) { b.Type = "memo.post.now" }), 0, tx.ErrDecode, "tx type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := tx.Decode(tt.raw, tt.maxBytes)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Decode = %v, %v; want %v", d, err, tt.want)
			}
			if d != nil {
				t.Errorf("Decode returned a tx with its error")
			}
			for _, other := range []error{tx.ErrDecode, tx.ErrTooLarge, tx.ErrBadSignature} {
				if other != tt.want && errors.Is(err, other) {
					t.Errorf("err %v also matches %v; a rejection must map to one code", err, other)
				}
			}
			if !strings.Contains(err.Error(), tt.inLog) {
				t.Errorf("err %q does not say %q", err, tt.inLog)
			}
		})
	}
}

func TestDecodeAcceptsATxAtExactlyTheLimit(t *testing.T) {
	priv := testKey("alice")
	raw := envelope(t, priv, marshal(t, validBody(t, priv)))
	for _, limit := range []uint64{0, uint64(len(raw)), tx.AbsoluteMaxBytes, 1 << 40} {
		if _, err := tx.Decode(raw, limit); err != nil {
			t.Errorf("Decode with limit %d: %v", limit, err)
		}
	}
}

func TestDecodeRejectsANonCanonicalEnvelope(t *testing.T) {
	// One signed body must travel as exactly one byte string: otherwise anyone
	// relaying it can change its tx hash, and the copy the signer is waiting
	// for is refused as a replay while a re-encoded one is executed.
	priv := testKey("alice")
	bodyBytes := marshal(t, validBody(t, priv))
	sig := ed25519.Sign(priv, tx.SignBytes(bodyBytes))
	field := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	tests := []struct {
		name string
		raw  []byte
	}{
		{"signature before body", field(field(nil, 2, sig), 1, bodyBytes)},
		{"the body twice", field(field(field(nil, 1, bodyBytes), 1, bodyBytes), 2, sig)},
		{"the signature twice", field(field(field(nil, 1, bodyBytes), 2, sig), 2, sig)},
		{"an overlong length prefix", append(append(protowire.AppendTag(nil, 1, protowire.BytesType), byte(len(bodyBytes))|0x80, 0x00), append(bodyBytes, field(nil, 2, sig)...)...)},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused", func(t *testing.T) {
			var env pb.Tx
			if err := proto.Unmarshal(tt.raw, &env); err != nil || !bytes.Equal(env.Body, bodyBytes) || !bytes.Equal(env.Signature, sig) {
				t.Fatalf("test vector is not an encoding of the signed tx: %v", err)
			}
			if _, err := tx.Decode(tt.raw, 0); !errors.Is(err, tx.ErrDecode) {
				t.Fatalf("Decode: err = %v, want ErrDecode", err)
			}
		})
	}
}

func TestVerify(t *testing.T) {
	alice, mallory := testKey("alice"), testKey("mallory")
	raw, err := tx.Build(alice, chainID, addressOf(alice), 1, "memo.post", &pb.PostMemo{Text: "hi"})
	if err != nil {
		t.Fatal(err)
	}
	decode := func(raw []byte) *tx.Decoded {
		t.Helper()
		d, err := tx.Decode(raw, 0)
		if err != nil {
			t.Fatalf("Decode: %v", err)
		}
		return d
	}
	// tampered keeps alice's signature over a body whose nonce was changed.
	tampered := func() *tx.Decoded {
		var env pb.Tx
		if err := proto.Unmarshal(raw, &env); err != nil {
			t.Fatal(err)
		}
		b := validBody(t, alice)
		if err := proto.Unmarshal(env.Body, b); err != nil {
			t.Fatal(err)
		}
		b.Nonce++
		return decode(marshal(t, &pb.Tx{Body: marshal(t, b), Signature: env.Signature}))
	}()
	// undomained is signed over the body without the medchain domain prefix.
	undomained := func() *tx.Decoded {
		b := marshal(t, validBody(t, alice))
		return decode(marshal(t, &pb.Tx{Body: b, Signature: ed25519.Sign(alice, b)}))
	}()

	tests := []struct {
		name string
		d    *tx.Decoded
		pub  []byte
		ok   bool
	}{
		{"the signer's key verifies", decode(raw), alice.Public().(ed25519.PublicKey), true},
		{"another key does not verify", decode(raw), mallory.Public().(ed25519.PublicKey), false},
		{"a tampered body does not verify", tampered, alice.Public().(ed25519.PublicKey), false},
		{"a signature without the medchain domain does not verify", undomained, alice.Public().(ed25519.PublicKey), false},
		{"a short key does not verify", decode(raw), alice.Public().(ed25519.PublicKey)[:31], false},
		{"a nil key does not verify", decode(raw), nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.d.Verify(tt.pub)
			if tt.ok && err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if !tt.ok && !errors.Is(err, tx.ErrBadSignature) {
				t.Fatalf("Verify = %v, want ErrBadSignature", err)
			}
		})
	}
}

func TestUnmarshalRejectsUnknownFieldsAtAnyDepth(t *testing.T) {
	h := marshal(t, &pb.Hospital{Id: "h1", Name: "One"})
	list := func(hospitals ...[]byte) []byte {
		var b []byte
		for _, h := range hospitals {
			b = protowire.AppendTag(b, 1, protowire.BytesType)
			b = protowire.AppendBytes(b, h)
		}
		return b
	}
	tests := []struct {
		name   string
		bz     []byte
		m      proto.Message
		inPath string // "" = must succeed
	}{
		{"a known message decodes", marshal(t, &pb.PostMemo{Text: "x"}), &pb.PostMemo{}, ""},
		{"an empty message decodes", nil, &pb.Params{}, ""},
		{"an unknown top-level field is named by its message", withUnknownField(marshal(t, &pb.PostMemo{Text: "x"})), &pb.PostMemo{}, "PostMemo"},
		{"an unknown field in a list element is named by its index", list(h, withUnknownField(h)), &pb.HospitalList{}, "HospitalList.hospitals[1]"},
		{"an unknown field with a known number's wrong type is refused", protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 5), &pb.PostMemo{}, "PostMemo"},
		{"malformed bytes are refused", []byte{0x0a, 0x05, 'x'}, &pb.PostMemo{}, "invalid wire-format"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tx.Unmarshal(tt.bz, tt.m)
			if tt.inPath == "" {
				if err != nil {
					t.Fatalf("Unmarshal: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.inPath) {
				t.Fatalf("Unmarshal = %v, want an error naming %q", err, tt.inPath)
			}
		})
	}
}
