// Package memo is the smallest contract: any account stores a short note.
// It exists so the whole signed-tx path (keys, envelope, nonce, events,
// state, proofs) is exercised end to end before the real contracts land.
package memo

import (
	"encoding/binary"
	"fmt"
	"strconv"
	"unicode/utf8"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// TypePost is the tx type of PostMemo.
const TypePost = "memo.post"

// EventPosted is emitted for every stored memo.
const EventPosted = "memo.posted"

const prefixMemo = 0x10

// Key is the state key of the memo author posted with nonce.
func Key(author [20]byte, nonce uint64) []byte {
	k := make([]byte, 0, 1+20+8)
	k = append(k, prefixMemo)
	k = append(k, author[:]...)
	return binary.BigEndian.AppendUint64(k, nonce)
}

// ParseKey is the inverse of Key.
func ParseKey(k []byte) (author [20]byte, nonce uint64, err error) {
	if len(k) != 29 || k[0] != prefixMemo {
		return author, 0, fmt.Errorf("not a memo key: %x", k)
	}
	copy(author[:], k[1:21])
	return author, binary.BigEndian.Uint64(k[21:]), nil
}

// Handlers returns this contract's tx handlers.
func Handlers() []contracts.Handler {
	return []contracts.Handler{{
		Type: TypePost,
		Roles: []pb.Role{pb.Role_ROLE_OPERATOR, pb.Role_ROLE_DOCTOR, pb.Role_ROLE_PATIENT,
			pb.Role_ROLE_RESEARCHER, pb.Role_ROLE_AUDITOR},
		New: func() proto.Message { return &pb.PostMemo{} },
		Validate: func(m proto.Message) error {
			t := m.(*pb.PostMemo).Text
			if t == "" || !utf8.ValidString(t) {
				return fmt.Errorf("text must be non-empty UTF-8")
			}
			return nil
		},
		Exec: func(ctx *contracts.Context, m proto.Message) error { return exec(ctx, m.(*pb.PostMemo)) },
	}}
}

func exec(ctx *contracts.Context, m *pb.PostMemo) error {
	params, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return err
	}
	if uint64(len(m.Text)) > params.MaxMemoBytes {
		return fmt.Errorf("%w: memo is %d bytes, the limit is %d", contracts.ErrInvalidPayload, len(m.Text), params.MaxMemoBytes)
	}
	author, err := pb.ParseAddress(ctx.Signer.Address)
	if err != nil {
		return err
	}
	rec := &pb.Memo{Author: ctx.Signer.Address, Nonce: ctx.Nonce, Text: m.Text, Height: ctx.Block.Height}
	bz, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec)
	if err != nil {
		return err
	}
	if err := ctx.Store.Set(Key(author, ctx.Nonce), bz); err != nil {
		return err
	}
	ctx.Emit(EventPosted,
		contracts.Attr{Key: "author", Value: rec.Author, Index: true},
		contracts.Attr{Key: "nonce", Value: strconv.FormatUint(rec.Nonce, 10), Index: true},
		contracts.Attr{Key: "bytes", Value: strconv.Itoa(len(rec.Text))},
	)
	return nil
}
