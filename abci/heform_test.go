package abci

import (
	"bytes"
	"context"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
)

// TestMalformedHEBlobsAreRefusedInCheckTx: a blob that fails its byte-by-
// byte validation, or a key commitment that is not a SHA-256, never enters
// the mempool, and a proposer that includes it
// anyway changes nothing (not even the nonce).
func TestMalformedHEBlobsAreRefusedInCheckTx(t *testing.T) {
	a := newHEAlliance(t)
	op := a.members[0].op
	good := a.members[0].post
	truncated := &pb.PostKeyShare{Epoch: 1, PublicKeyShare: good.PublicKeyShare[:len(good.PublicKeyShare)-1], Shares: good.Shares}
	flipped := &pb.PostKeyShare{Epoch: 1, PublicKeyShare: append([]byte{good.PublicKeyShare[0] ^ 1}, good.PublicKeyShare[1:]...), Shares: good.Shares}
	shortSeal := &pb.PostKeyShare{Epoch: 1, PublicKeyShare: good.PublicKeyShare,
		Shares: append([]*pb.SealedShare{{Recipient: 2, Sealed: []byte("short")}}, good.Shares[1:]...)}
	commitment := [32]byte(hekeys.Commitment(testChainID, 1, 1, good.PublicKeyShare))
	cases := []struct {
		name string
		typ  string
		msg  proto.Message
	}{
		{"a truncated public-key share", hekeys.TypeKeyShare, truncated},
		{"a public-key share with a flipped header byte", hekeys.TypeKeyShare, flipped},
		{"a sealed share of the wrong size", hekeys.TypeKeyShare, shortSeal},
		{"a commitment of 31 bytes", hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: commitment[:31]}},
		{"a commitment of 33 bytes", hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: append(commitment[:], 0)}},
		{"an empty commitment", hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name+" is refused in CheckTx and changes nothing in a block", func(t *testing.T) {
			app := a.newApp(t)
			raw := signedTx(t, op, 0, tc.typ, tc.msg)
			res := checkTx(t, app, raw, abcitypes.CheckTxType_New)
			if res.Code != codeNamed(t, "invalid_payload") {
				t.Fatalf("CheckTx code %d (%s), want invalid_payload", res.Code, res.Log)
			}
			before := app.store.WorkingHash()
			fin, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{Height: 1, Time: blockTime(1), Txs: [][]byte{raw}})
			if err != nil {
				t.Fatal(err)
			}
			if fin.TxResults[0].Code != codeNamed(t, "invalid_payload") || !bytes.Equal(fin.AppHash, before) {
				t.Fatalf("FinalizeBlock code %d, app hash changed: %v", fin.TxResults[0].Code, !bytes.Equal(fin.AppHash, before))
			}
		})
	}
	t.Run("a well-formed share before every member committed is refused in CheckTx", func(t *testing.T) {
		if res := checkTx(t, a.newApp(t), signedTx(t, op, 0, hekeys.TypeKeyShare, good), abcitypes.CheckTxType_New); res.Code != codeNamed(t, "wrong_state") {
			t.Fatalf("code %d: %s", res.Code, res.Log)
		}
	})
	t.Run("a second commitment by the same member is refused in CheckTx once the first is committed", func(t *testing.T) {
		app := a.newApp(t)
		msg := &pb.CommitKeyShare{Epoch: 1, Commitment: commitment[:]}
		if res := runBlock(t, app, 1, signedTx(t, op, 0, hekeys.TypeKeyCommit, msg)); res.TxResults[0].Code != 0 {
			t.Fatalf("first commitment: %s", res.TxResults[0].Log)
		}
		if res := checkTx(t, app, signedTx(t, op, 1, hekeys.TypeKeyCommit, msg), abcitypes.CheckTxType_New); res.Code != codeNamed(t, "already_exists") {
			t.Fatalf("second commitment: code %d: %s", res.Code, res.Log)
		}
		other := a.members[1]
		oc := hekeys.Commitment(testChainID, 1, 2, other.post.PublicKeyShare)
		if res := checkTx(t, app, signedTx(t, other.op, 0, hekeys.TypeKeyCommit, &pb.CommitKeyShare{Epoch: 1, Commitment: oc}), abcitypes.CheckTxType_New); res.Code != 0 {
			t.Fatalf("another member's commitment: code %d: %s", res.Code, res.Log)
		}
	})
	t.Run("the well-formed commitment passes CheckTx", func(t *testing.T) {
		msg := &pb.CommitKeyShare{Epoch: 1, Commitment: commitment[:]}
		if res := checkTx(t, a.newApp(t), signedTx(t, op, 0, hekeys.TypeKeyCommit, msg), abcitypes.CheckTxType_New); res.Code != 0 {
			t.Fatalf("code %d: %s", res.Code, res.Log)
		}
	})
}
