package contracts_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
)

// FuzzRouterPrepare: decoding and validating any payload of any type, with
// the real contracts, never panics and refuses with a mapped sentinel.
func FuzzRouterPrepare(f *testing.F) {
	r := contracts.NewRouter(append(accounts.Handlers(), memo.Handlers()...)...)
	reg, _ := proto.Marshal(&pb.RegisterAccount{Pubkey: make([]byte, 32), Role: pb.Role_ROLE_PATIENT, Label: "p"})
	post, _ := proto.Marshal(&pb.PostMemo{Text: "hello"})
	f.Add(accounts.TypeRegister, reg)
	f.Add(memo.TypePost, post)
	f.Add(memo.TypePost, []byte{0x0a, 0x02, 0xff, 0xfe})
	f.Add("grant.create", post)
	f.Fuzz(func(t *testing.T, typ string, payload []byte) {
		p, err := r.Prepare(typ, payload)
		if err != nil {
			if p != nil || !(errors.Is(err, contracts.ErrUnknownTxType) || errors.Is(err, contracts.ErrInvalidPayload)) {
				t.Fatalf("Prepare(%q) = %v, %v", typ, p, err)
			}
			return
		}
		if p.Handler.Type != typ || p.Msg == nil {
			t.Fatalf("prepared %q as %q", typ, p.Handler.Type)
		}
	})
}
