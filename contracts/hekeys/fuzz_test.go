package hekeys_test

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
)

// FuzzKeySharePayload: any payload bytes of any hekeys tx type, from any
// kind of signer, through Router.Prepare, Authorize and Exec, as the app
// runs them, never panic, and every refusal wraps a contract sentinel (an
// unmapped error would be "internal" and halt the node in FinalizeBlock).
// The state is after the ceremony, with a submitted ciphertext and a
// pending request 1 (active set 2, 3, 4), so Exec gets past the state
// checks; writes go to a Cache that is dropped.
func FuzzKeySharePayload(f *testing.F) {
	base, _ := pendingRequest(f, []int64{1})
	types := []string{hekeys.TypeKeyShare, hekeys.TypeSubmit, hekeys.TypeRequest, hekeys.TypeKSShare, hekeys.TypeKeyCommit}
	signers := []string{base.op(1), base.op(2), base.op(3), base.op(4), base.a.researcher, base.a.doctor, base.a.impostor}
	ct := hashesOf(f, base)[0]
	seed := func(typ uint8, signer uint8, m proto.Message) {
		bz, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(typ, signer, bz)
	}
	short := func(b []byte, n int) []byte { return b[:min(n, len(b))] }
	a := base.a
	seed(0, 0, &pb.PostKeyShare{Epoch: 1, PublicKeyShare: short(a.members[0].post.PublicKeyShare, 64),
		Shares: []*pb.SealedShare{{Recipient: 2, Sealed: []byte{1}}, {Recipient: 3}, {Recipient: 4}}})
	seed(0, 1, &pb.PostKeyShare{Epoch: 2})
	seed(1, 2, &pb.SubmitCiphertext{Epoch: 1, Ciphertext: short(base.blob(f, ct), 64), Label: "x"})
	seed(2, 4, &pb.RequestDecryption{CiphertextHashes: [][]byte{ct}, ResearcherKey: short(a.researcherPub, 64)})
	seed(2, 4, &pb.RequestDecryption{CiphertextHashes: [][]byte{make([]byte, 32)}})
	seed(3, 1, &pb.PostKeySwitchShare{Request: 1, Share: []byte("mhe\x07")})
	seed(3, 0, &pb.PostKeySwitchShare{Request: 1})
	seed(4, 0, &pb.CommitKeyShare{Epoch: 1, Commitment: make([]byte, 32)})
	seed(4, 6, &pb.CommitKeyShare{Epoch: 2, Commitment: make([]byte, 32)})
	seed(4, 1, &pb.CommitKeyShare{Epoch: 1, Commitment: make([]byte, 31)})
	f.Add(uint8(0), uint8(0), []byte{0x0a, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, typ, signer uint8, payload []byte) {
		p, err := router.Prepare(types[int(typ)%len(types)], payload)
		if err != nil {
			if !errors.Is(err, contracts.ErrInvalidPayload) {
				t.Fatalf("Prepare: %v is not ErrInvalidPayload", err)
			}
			return
		}
		acc, err := accounts.GetAccount(base.store, signers[int(signer)%len(signers)])
		if err != nil || acc == nil {
			t.Fatalf("signer account: %v", err)
		}
		if err := p.Authorize(acc.Role); err != nil {
			return
		}
		ctx := contracts.NewContext(base.block, contracts.NewCache(base.store), acc, 0)
		err = p.Handler.Exec(ctx, p.Msg)
		if err == nil {
			return
		}
		for _, s := range []error{contracts.ErrInvalidPayload, contracts.ErrUnauthorized, contracts.ErrNotFound, contracts.ErrExists, contracts.ErrWrongState} {
			if errors.Is(err, s) {
				return
			}
		}
		t.Fatalf("Exec refused with an unmapped error (internal, node halt): %v", err)
	})
}
