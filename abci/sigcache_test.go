package abci

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

func TestSigCache(t *testing.T) {
	pub, priv := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey), ed25519.NewKeyFromSeed(make([]byte, 32))
	other := ed25519.NewKeyFromSeed(append(make([]byte, 31), 1))
	addr := pb.AddressOf(pub)
	decode := func(priv ed25519.PrivateKey) *tx.Decoded {
		raw, err := tx.Build(priv, "c", addr, 0, "memo.post", &pb.PostMemo{Text: "x"})
		if err != nil {
			t.Fatal(err)
		}
		d, err := tx.Decode(raw, 0)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	t.Run("a valid signature is verified once and then remembered", func(t *testing.T) {
		c := newSigCache(10)
		d := decode(priv)
		if err := c.verify(d, pub); err != nil {
			t.Fatal(err)
		}
		if len(c.entries) != 1 {
			t.Fatalf("entries %d", len(c.entries))
		}
		c.forget(d.Raw, pub)
		if len(c.entries) != 0 {
			t.Fatal("forget kept the entry")
		}
	})
	t.Run("a bad signature is refused every time and never cached", func(t *testing.T) {
		c := newSigCache(10)
		d := decode(other)
		for i := 0; i < 2; i++ {
			if err := c.verify(d, pub); !errors.Is(err, tx.ErrBadSignature) {
				t.Fatalf("got %v", err)
			}
		}
		if len(c.entries) != 0 {
			t.Fatal("cached a failure")
		}
	})
	t.Run("a remembered tx is not valid under another key", func(t *testing.T) {
		c := newSigCache(10)
		d := decode(priv)
		if err := c.verify(d, pub); err != nil {
			t.Fatal(err)
		}
		if err := c.verify(d, other.Public().(ed25519.PublicKey)); !errors.Is(err, tx.ErrBadSignature) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("a full cache starts over instead of growing", func(t *testing.T) {
		c := newSigCache(1)
		a, b := decode(priv), decode(priv)
		b.Raw = append([]byte{}, b.Raw...)
		if err := c.verify(a, pub); err != nil {
			t.Fatal(err)
		}
		if err := c.verify(&tx.Decoded{Raw: append(a.Raw, 0), BodyBytes: a.BodyBytes, Body: a.Body, Signature: a.Signature}, pub); err != nil {
			t.Fatal(err)
		}
		if len(c.entries) != 1 {
			t.Fatalf("entries %d", len(c.entries))
		}
	})
}
