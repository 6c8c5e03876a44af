package memo

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

func address(name string) [20]byte {
	seed := sha256.Sum256([]byte("memo test key/" + name))
	a, err := pb.ParseAddress(pb.AddressOf(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey)))
	if err != nil {
		panic(err) // AddressOf always makes a valid address
	}
	return a
}

func TestKeyRoundTrips(t *testing.T) {
	tests := []struct {
		name  string
		nonce uint64
	}{
		{"nonce zero round-trips", 0},
		{"a small nonce round-trips", 7},
		{"a nonce over 2^32 round-trips", 1 << 33},
		{"the largest nonce round-trips", math.MaxUint64},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := address("alice")
			k := Key(a, tt.nonce)
			gotA, gotN, err := ParseKey(k)
			if err != nil || gotA != a || gotN != tt.nonce {
				t.Fatalf("ParseKey(Key(a, %d)) = %x, %d, %v", tt.nonce, gotA, gotN, err)
			}
		})
	}
}

func TestKeysSortByAuthorThenNonce(t *testing.T) {
	a, b := address("alice"), address("bob")
	if bytes.Compare(a[:], b[:]) > 0 {
		a, b = b, a
	}
	keys := [][]byte{Key(b, 0), Key(a, 256), Key(a, 1), Key(b, math.MaxUint64), Key(a, 2)}
	slices.SortFunc(keys, bytes.Compare)
	want := [][]byte{Key(a, 1), Key(a, 2), Key(a, 256), Key(b, 0), Key(b, math.MaxUint64)}
	if !slices.EqualFunc(keys, want, bytes.Equal) {
		t.Fatal("memo keys do not sort by author, then nonce in numeric order")
	}
}

func TestParseKeyRejects(t *testing.T) {
	good := Key(address("alice"), 1)
	tests := []struct {
		name string
		k    []byte
	}{
		{"an empty key is not a memo key", nil},
		{"a key one byte short is not a memo key", good[:len(good)-1]},
		{"a key one byte long is not a memo key", append(bytes.Clone(good), 0)},
		{"a key with another prefix is not a memo key", append([]byte{0x01}, good[1:]...)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, _, err := ParseKey(tt.k); err == nil {
				t.Fatalf("ParseKey(%x) succeeded", tt.k)
			}
		})
	}
}

func TestMemoKeysDoNotCollideWithAccountKeys(t *testing.T) {
	a := address("alice")
	start, end := accounts.HospitalPrefix()
	k := Key(a, 0)
	for _, other := range [][]byte{accounts.AccountKey(a), accounts.ParamsKey(), start, end} {
		if other[0] == k[0] {
			t.Fatalf("memo prefix %#x is also used by accounts (%x)", k[0], other)
		}
	}
}

// FuzzParseKey: ParseKey never panics and inverts Key on what it accepts.
func FuzzParseKey(f *testing.F) {
	f.Add(Key(address("alice"), 9))
	f.Add([]byte{prefixMemo})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, k []byte) {
		a, n, err := ParseKey(k)
		if err != nil {
			return
		}
		if !bytes.Equal(Key(a, n), k) {
			t.Fatalf("Key(ParseKey(%x)) = %x", k, Key(a, n))
		}
	})
}

// emptyStore is a KVStore holding nothing; a contracts.Cache over it is an
// in-memory state for tests.
type emptyStore struct{}

func (emptyStore) Get([]byte) ([]byte, error) { return nil, nil }
func (emptyStore) Set([]byte, []byte) error   { return errors.New("emptyStore is read-only") }
func (emptyStore) Delete([]byte) error        { return errors.New("emptyStore is read-only") }
func (emptyStore) Iterator([]byte, []byte, bool) (contracts.Iterator, error) {
	return emptyIter{}, nil
}

type emptyIter struct{}

func (emptyIter) Valid() bool   { return false }
func (emptyIter) Next()         {}
func (emptyIter) Key() []byte   { return nil }
func (emptyIter) Value() []byte { return nil }
func (emptyIter) Error() error  { return nil }
func (emptyIter) Close() error  { return nil }

func TestPost(t *testing.T) {
	router := contracts.NewRouter(Handlers()...)
	author := address("alice")
	signer := &pb.Account{Address: "mc1" + hex.EncodeToString(author[:]), Role: pb.Role_ROLE_PATIENT}

	tests := []struct {
		name      string
		text      string
		stateless error // from Prepare
		exec      error // from Exec
	}{
		{"a short note is stored", "hello", nil, nil},
		{"a note of exactly max_memo_bytes is stored", strings.Repeat("é", 5), nil, nil},
		{"an empty note is refused", "", contracts.ErrInvalidPayload, nil},
		{"a note over max_memo_bytes is refused when executed", strings.Repeat("x", 11), nil, contracts.ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bz, err := proto.Marshal(&pb.PostMemo{Text: tt.text})
			if err != nil {
				t.Fatal(err)
			}
			p, err := router.Prepare(TypePost, bz)
			if tt.stateless != nil {
				if !errors.Is(err, tt.stateless) {
					t.Fatalf("Prepare = %v, want %v", err, tt.stateless)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			st := contracts.NewCache(emptyStore{})
			if err := st.Set(accounts.ParamsKey(), mustMarshal(t, genesis.Params{MaxTxBytes: 2048, MaxMemoBytes: 10, MaxLabelBytes: 10}.Proto())); err != nil {
				t.Fatal(err)
			}
			ctx := contracts.NewContext(contracts.Block{Height: 5}, st, signer, 4)
			err = p.Handler.Exec(ctx, p.Msg)
			if tt.exec != nil {
				if !errors.Is(err, tt.exec) {
					t.Fatalf("Exec = %v, want %v", err, tt.exec)
				}
				if v, _ := st.Get(Key(author, 4)); v != nil {
					t.Fatal("a refused memo was stored")
				}
				return
			}
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			v, err := st.Get(Key(author, 4))
			if err != nil || v == nil {
				t.Fatalf("memo not stored: %v", err)
			}
			var got pb.Memo
			if err := tx.Unmarshal(v, &got); err != nil {
				t.Fatal(err)
			}
			want := &pb.Memo{Author: signer.Address, Nonce: 4, Text: tt.text, Height: 5}
			if !proto.Equal(&got, want) {
				t.Fatalf("memo = %v, want %v", &got, want)
			}
			if ev := ctx.Events(); len(ev) != 1 || ev[0].Type != EventPosted {
				t.Fatalf("events = %+v", ev)
			}
		})
	}
}

func TestEveryRoleMayPostButTheUnspecified(t *testing.T) {
	bz, _ := proto.Marshal(&pb.PostMemo{Text: "hi"})
	p, err := contracts.NewRouter(Handlers()...).Prepare(TypePost, bz)
	if err != nil {
		t.Fatal(err)
	}
	for role := pb.Role(0); int(role) < len(pb.Role_name); role++ {
		t.Run(role.String(), func(t *testing.T) {
			err := p.Authorize(role)
			if (role != pb.Role_ROLE_UNSPECIFIED) != (err == nil) {
				t.Fatalf("Authorize(%s) = %v", role, err)
			}
		})
	}
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	bz, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return bz
}
