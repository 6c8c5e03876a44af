package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"golang.org/x/crypto/curve25519"
	"golang.org/x/crypto/nacl/box"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
)

// heMember is one hospital of heAlliance and its node worker's ceremony
// output.
type heMember struct {
	index     uint64
	op        user
	validator []byte // CometBFT address of its validator
	sealPriv  [32]byte
	sealPub   [32]byte
	dealt     map[uint64][]byte // its Shamir shares, by recipient
	post      *pb.PostKeyShare
	ts        *he.ThresholdSecret
}

// heAlliance is a four-hospital chain with an HE section (t = 3), a
// researcher, and every member's key-ceremony payload.
type heAlliance struct {
	p              *he.Params
	appState       []byte
	validators     []abcitypes.ValidatorUpdate
	members        []*heMember // members[i].index == i+1
	researcher     user
	doctor         user
	collectiveKey  []byte
	researcherPriv []byte
	researcherPub  []byte
}

func newHEAlliance(t *testing.T) *heAlliance {
	t.Helper()
	return newHEAllianceWith(t, nil)
}

// newHEAllianceWith is newHEAlliance with research rules r in genesis.
func newHEAllianceWith(t *testing.T, r *genesis.Research) *heAlliance {
	t.Helper()
	hep := genesis.DefaultHE(4)
	p, err := he.NewParams(hep.Params)
	if err != nil {
		t.Fatal(err)
	}
	a := &heAlliance{p: p, researcher: newUser("he-researcher"), doctor: newUser("he-doctor")}
	s := genesis.AppState{
		Alliance: "HE Alliance", Params: genesis.DefaultParams(), HE: hep, Research: r,
		Accounts: []genesis.Account{{PubKey: a.researcher.pub(), Role: "researcher", Label: "lab"}},
	}
	indexes := []uint64{1, 2, 3, 4}
	seed := he.CRPSeed(testChainID, 1)
	var pkShares [][]byte
	for _, i := range indexes {
		val := testKey(fmt.Sprintf("he-validator%d", i)).Public().(ed25519.PublicKey)
		m := &heMember{index: i, op: newUser(fmt.Sprintf("he-op%d", i)), validator: cmted25519.PubKey(val).Address()}
		m.sealPriv = sha256.Sum256([]byte(fmt.Sprintf("he seal key %d", i)))
		sp, err := curve25519.X25519(m.sealPriv[:], curve25519.Basepoint)
		if err != nil {
			t.Fatal(err)
		}
		copy(m.sealPub[:], sp)
		a.members = append(a.members, m)
		s.Hospitals = append(s.Hospitals, genesis.Hospital{
			ID: fmt.Sprintf("h%d", i), Name: fmt.Sprintf("Hospital %d", i), ValidatorPubKey: val, Power: 10,
			OperatorPubKey: m.op.pub(), SealPubKey: m.sealPub[:],
		})
		a.validators = append(a.validators, abcitypes.UpdateValidator(val, 10, "ed25519"))

		sk, err := p.GenSecretShare()
		if err != nil {
			t.Fatal(err)
		}
		pk, err := p.GenPublicKeyShare(sk, seed)
		if err != nil {
			t.Fatal(err)
		}
		pkShares = append(pkShares, pk)
		if m.dealt, err = p.GenThresholdShares(sk, i, int(hep.Threshold), indexes); err != nil {
			t.Fatal(err)
		}
		m.post = &pb.PostKeyShare{Epoch: 1, PublicKeyShare: pk}
	}
	for _, m := range a.members {
		for _, r := range a.members {
			if r != m {
				sealed, err := box.SealAnonymous(nil, m.dealt[r.index], &r.sealPub, rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				m.post.Shares = append(m.post.Shares, &pb.SealedShare{Recipient: r.index, Sealed: sealed})
			}
		}
	}
	for _, r := range a.members {
		received := map[uint64][]byte{r.index: r.dealt[r.index]}
		for _, d := range a.members {
			for _, sh := range d.post.Shares {
				if sh.Recipient == r.index {
					var ok bool
					if received[d.index], ok = box.OpenAnonymous(nil, sh.Sealed, &r.sealPub, &r.sealPriv); !ok {
						t.Fatalf("member %d cannot open member %d's share", r.index, d.index)
					}
				}
			}
		}
		if r.ts, err = p.CombineThresholdShares(r.index, int(hep.Threshold), received); err != nil {
			t.Fatal(err)
		}
	}
	if a.collectiveKey, err = p.AggregatePublicKey(seed, pkShares); err != nil {
		t.Fatal(err)
	}
	if a.researcherPriv, a.researcherPub, err = p.GenResearcherKey(); err != nil {
		t.Fatal(err)
	}
	if a.appState, err = json.Marshal(s); err != nil {
		t.Fatal(err)
	}
	return a
}

// votes is a last commit signed by the validators of the given members.
func (a *heAlliance) votes(members ...uint64) abcitypes.CommitInfo {
	var c abcitypes.CommitInfo
	for _, i := range members {
		c.Votes = append(c.Votes, abcitypes.VoteInfo{
			Validator:   abcitypes.Validator{Address: a.members[i-1].validator, Power: 10},
			BlockIdFlag: cmtproto.BlockIDFlagCommit,
		})
	}
	return c
}

func (a *heAlliance) newApp(t *testing.T) *App {
	t.Helper()
	app, _ := openApp(t, t.TempDir())
	_, err := app.InitChain(context.Background(), &abcitypes.RequestInitChain{
		Time: blockTime(0), ChainId: testChainID, Validators: a.validators, AppStateBytes: a.appState, InitialHeight: 1,
	})
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	return app
}

// heBlock is one block of the scenario and the code each tx must get.
type heBlock struct {
	txs  [][]byte
	want []string
}

// twinApps are two nodes fed the same blocks; run checks, at every height,
// that they answer byte for byte alike.
type twinApps struct {
	t      *testing.T
	apps   [2]*App
	height int64
	nonces map[string]uint64
	blk    heBlock
}

// tx adds to the next block a tx of u and the code it must get.
func (w *twinApps) tx(u user, typ string, payload proto.Message, want string) {
	w.t.Helper()
	w.blk.txs = append(w.blk.txs, signedTx(w.t, u, w.nonces[u.addr], typ, payload))
	w.blk.want = append(w.blk.want, want)
	w.nonces[u.addr]++
}

// run finalizes and commits the pending block on both apps.
func (w *twinApps) run(votes abcitypes.CommitInfo) *abcitypes.ResponseFinalizeBlock {
	t := w.t
	t.Helper()
	w.height++
	var resps [2]*abcitypes.ResponseFinalizeBlock
	var marshalled [2][]byte
	for i, app := range w.apps {
		r, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{
			Height: w.height, Time: blockTime(w.height), Txs: w.blk.txs, DecidedLastCommit: votes,
		})
		if err != nil {
			t.Fatalf("FinalizeBlock(%d): %v", w.height, err)
		}
		commit(t, app)
		if marshalled[i], err = r.Marshal(); err != nil {
			t.Fatal(err)
		}
		resps[i] = r
	}
	if !bytes.Equal(resps[0].AppHash, resps[1].AppHash) {
		t.Fatalf("height %d: app hashes differ: %X vs %X", w.height, resps[0].AppHash, resps[1].AppHash)
	}
	if !bytes.Equal(marshalled[0], marshalled[1]) {
		t.Fatalf("height %d: FinalizeBlock responses differ", w.height)
	}
	for i, res := range resps[0].TxResults {
		code := uint32(0)
		if w.blk.want[i] != "ok" {
			code = codeNamed(t, w.blk.want[i])
		}
		if res.Code != code {
			t.Fatalf("height %d tx %d: code %d (%s), want %s", w.height, i, res.Code, res.Log, w.blk.want[i])
		}
	}
	w.blk = heBlock{}
	return resps[0]
}

// query asks both apps and checks they answer alike.
func (w *twinApps) query(path string, prove bool) *abcitypes.ResponseQuery {
	t := w.t
	t.Helper()
	var qs [2]*abcitypes.ResponseQuery
	for i, app := range w.apps {
		q, err := app.Query(context.Background(), &abcitypes.RequestQuery{Path: path, Prove: prove})
		if err != nil || q.Code != 0 {
			t.Fatalf("Query(%s) = %+v, %v", path, q, err)
		}
		qs[i] = q
	}
	if !bytes.Equal(qs[0].Value, qs[1].Value) || qs[0].Height != qs[1].Height {
		t.Fatalf("Query(%s): the two nodes answer differently", path)
	}
	if len(qs[0].Value) == 0 && path != "/he/pending" {
		t.Fatalf("Query(%s): no value", path)
	}
	return qs[0]
}

func (w *twinApps) request(id uint64) *pb.DecryptionRequest {
	w.t.Helper()
	var r pb.DecryptionRequest
	if err := tx.Unmarshal(w.query(fmt.Sprintf("/he/request/%d", id), false).Value, &r); err != nil {
		w.t.Fatal(err)
	}
	return &r
}

func (w *twinApps) blob(hash []byte) []byte {
	w.t.Helper()
	return w.query("/blob/"+hex.EncodeToString(hash), false).Value
}

func (w *twinApps) pending() []*pb.DecryptionRequest {
	w.t.Helper()
	var l pb.DecryptionRequestList
	if err := tx.Unmarshal(w.query("/he/pending", false).Value, &l); err != nil {
		w.t.Fatal(err)
	}
	return l.Requests
}

// TestHEDeterminism: two fresh nodes fed the same genesis (with an HE
// section and seal keys) and the same blocks — the whole key ceremony
// (commitments, then shares),
// submissions, two decryption requests, one done and one failed at its
// deadline — reach byte-identical app hashes and FinalizeBlock answers at
// every height, and answer the /he and /blob queries alike.
func TestHEDeterminism(t *testing.T) {
	a := newHEAlliance(t)
	w := &twinApps{t: t, apps: [2]*App{a.newApp(t), a.newApp(t)}, nonces: map[string]uint64{}}
	op := func(i uint64) user { return a.members[i-1].op }
	all := a.votes(1, 2, 3, 4)

	ctOf := func(v ...int64) []byte {
		ct, err := a.p.EncodeEncrypt(a.collectiveKey, v)
		if err != nil {
			t.Fatal(err)
		}
		return ct
	}
	vA, vB, vC := []int64{3, -4, 5}, []int64{10, 20, -30, 1}, []int64{7}
	ctA, ctB, ctC := ctOf(vA...), ctOf(vB...), ctOf(vC...)
	hash := func(b []byte) []byte { h := sha256.Sum256(b); return h[:] }
	hA, hB, hC := hash(ctA), hash(ctB), hash(ctC)
	submit := func(ct []byte) *pb.SubmitCiphertext {
		return &pb.SubmitCiphertext{Epoch: 1, Ciphertext: ct, Label: "t"}
	}
	ask := func(hs ...[]byte) *pb.RequestDecryption {
		return &pb.RequestDecryption{CiphertextHashes: hs, ResearcherKey: a.researcherPub}
	}

	commitment := func(i uint64) *pb.CommitKeyShare {
		return &pb.CommitKeyShare{Epoch: 1, Commitment: hekeys.Commitment(testChainID, 1, i, a.members[i-1].post.PublicKeyShare)}
	}

	// Block 1: members 1 and 2 commit; a submission before the key, a
	// share before every member committed and a second commitment are
	// refused.
	w.tx(op(1), accounts.TypeRegister, &pb.RegisterAccount{Pubkey: a.doctor.pub(), Role: pb.Role_ROLE_DOCTOR, Label: "doctor"}, "ok")
	w.tx(op(1), hekeys.TypeSubmit, submit(ctA), "wrong_state")
	w.tx(op(1), hekeys.TypeKeyCommit, commitment(1), "ok")
	w.tx(op(2), hekeys.TypeKeyCommit, commitment(2), "ok")
	w.tx(op(1), hekeys.TypeKeyShare, a.members[0].post, "wrong_state")
	w.tx(op(1), hekeys.TypeKeyCommit, commitment(1), "already_exists")
	b1 := w.run(abcitypes.CommitInfo{})
	if got, _ := attr(b1.TxResults[3].Events, hekeys.EventKeyCommitted, "dealer"); got != "2" {
		t.Fatalf("member 2's commitment: events %v", b1.TxResults[3].Events)
	}

	// Block 2: a doctor may not commit; members 3 and 4 commit, then members
	// 1 and 2 post; a share that is not the one committed to is refused.
	w.tx(a.doctor, hekeys.TypeKeyCommit, commitment(3), "unauthorized")
	w.tx(op(3), hekeys.TypeKeyCommit, commitment(3), "ok")
	w.tx(op(4), hekeys.TypeKeyCommit, commitment(4), "ok")
	w.tx(op(1), hekeys.TypeKeyShare, a.members[0].post, "ok")
	w.tx(op(2), hekeys.TypeKeyShare, a.members[1].post, "ok")
	rogue := proto.Clone(a.members[2].post).(*pb.PostKeyShare)
	rogue.PublicKeyShare = a.members[3].post.PublicKeyShare
	w.tx(op(3), hekeys.TypeKeyShare, rogue, "invalid_payload")
	w.run(all)
	var ep pb.KeyEpoch
	if err := tx.Unmarshal(w.query("/he/epoch/1", false).Value, &ep); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(ep.Committed, []uint64{1, 2, 3, 4}) || !slices.Equal(ep.Posted, []uint64{1, 2}) || ep.Ready {
		t.Fatalf("epoch 1 = %v; want every member committed, 1 and 2 posted", &ep)
	}
	for i := uint64(1); i <= 4; i++ {
		if got := w.query(fmt.Sprintf("/he/commit/1/%d", i), false).Value; !bytes.Equal(got, commitment(i).Commitment) {
			t.Fatalf("/he/commit/1/%d = %x, want member %d's commitment", i, got, i)
		}
	}

	// Block 3: a doctor and a second share are refused; member 4 completes
	// the key; a commitment after that is refused.
	w.tx(a.doctor, hekeys.TypeKeyShare, a.members[2].post, "unauthorized")
	w.tx(op(3), hekeys.TypeKeyShare, a.members[2].post, "ok")
	w.tx(op(3), hekeys.TypeKeyShare, a.members[2].post, "already_exists")
	w.tx(op(4), hekeys.TypeKeyShare, a.members[3].post, "ok")
	w.tx(op(4), hekeys.TypeKeyCommit, commitment(4), "wrong_state")
	b3 := w.run(all)
	if got, _ := attr(b3.TxResults[3].Events, hekeys.EventKeyReady, "epoch"); got != "1" {
		t.Fatalf("member 4's share did not make epoch 1 ready: events %v", b3.TxResults[3].Events)
	}
	if err := tx.Unmarshal(w.query("/he/epoch/1", false).Value, &ep); err != nil {
		t.Fatal(err)
	}
	if !ep.Ready || ep.ReadyHeight != 3 || !bytes.Equal(w.blob(ep.PublicKeyHash), a.collectiveKey) {
		t.Fatalf("epoch 1 = %v; want ready at 3 with the collective key", &ep)
	}

	// Block 4, with member 3's validator absent from the last commit:
	// submissions and two requests, whose active sets leave member 3 out.
	w.tx(op(1), hekeys.TypeSubmit, submit(ctA), "ok")
	w.tx(op(2), hekeys.TypeSubmit, submit(ctB), "ok")
	w.tx(op(3), hekeys.TypeSubmit, submit(ctC), "ok")
	w.tx(op(4), hekeys.TypeSubmit, submit(ctA), "already_exists")
	w.tx(a.researcher, hekeys.TypeRequest, ask(hA, hB), "ok")
	w.tx(a.researcher, hekeys.TypeRequest, ask(hB, hA), "wrong_state")
	w.tx(a.researcher, hekeys.TypeRequest, ask(hC), "ok")
	w.tx(op(1), hekeys.TypeRequest, ask(hC), "unauthorized")
	w.run(a.votes(1, 2, 4))
	r1, r2 := w.request(1), w.request(2)
	for _, r := range []*pb.DecryptionRequest{r1, r2} {
		if r.Status != pb.DecryptionRequest_STATUS_PENDING || len(r.ActiveSet) != 3 || r.ActiveSet[0] != 1 || r.ActiveSet[1] != 2 || r.ActiveSet[2] != 4 {
			t.Fatalf("request %d = %s with active set %v; want pending with 1, 2, 4 (3 did not sign)", r.Id, r.Status, r.ActiveSet)
		}
	}
	if p := w.pending(); len(p) != 2 || p[0].Id != 1 || p[1].Id != 2 {
		t.Fatalf("/he/pending = %v, want requests 1 and 2", p)
	}

	// Block 5: request 1 gets its three shares; request 2 only two.
	share := func(i uint64, r *pb.DecryptionRequest) *pb.PostKeySwitchShare {
		s, err := a.p.GenKeySwitchShare(a.members[i-1].ts, r.ActiveSet, w.blob(r.AggregateHash), w.blob(r.TargetKeyHash))
		if err != nil {
			t.Fatal(err)
		}
		return &pb.PostKeySwitchShare{Request: r.Id, Share: s}
	}
	w.tx(op(3), hekeys.TypeKSShare, &pb.PostKeySwitchShare{Request: 1, Share: share(1, r1).Share}, "unauthorized")
	for _, i := range r1.ActiveSet {
		w.tx(op(i), hekeys.TypeKSShare, share(i, r1), "ok")
	}
	w.tx(op(1), hekeys.TypeKSShare, share(1, r2), "ok")
	w.tx(op(2), hekeys.TypeKSShare, share(2, r2), "ok")
	w.run(all)
	done := w.request(1)
	if done.Status != pb.DecryptionRequest_STATUS_DONE {
		t.Fatalf("request 1 is %s after its three shares", done.Status)
	}
	got, err := a.p.Decrypt(a.researcherPriv, w.blob(done.ResultHash))
	if err != nil {
		t.Fatal(err)
	}
	want := make([]int64, len(got))
	for _, v := range [][]int64{vA, vB} {
		for i, x := range v {
			want[i] += x
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("request 1 decrypts to %v..., want %v...", got[:5], want[:5])
	}

	// Empty blocks up to request 2's deadline, then one past it.
	for w.height < r2.DeadlineHeight {
		w.run(all)
	}
	if p := w.pending(); len(p) != 1 || p[0].Id != 2 {
		t.Fatalf("/he/pending at the deadline = %v, want request 2", p)
	}
	past := w.run(all)
	if got, _ := attr(past.Events, hekeys.EventRequestFailed, "id"); got != "2" {
		t.Fatalf("block %d events %v, want request 2 failed", w.height, past.Events)
	}
	failed := w.request(2)
	if failed.Status != pb.DecryptionRequest_STATUS_FAILED || !strings.HasPrefix(failed.Reason, "members 4 ") {
		t.Fatalf("request 2 = %s %q, want failed naming member 4", failed.Status, failed.Reason)
	}
	if p := w.pending(); len(p) != 0 {
		t.Fatalf("/he/pending after the deadline = %v, want none", p)
	}

	// A late share is refused; the state still agrees.
	w.tx(op(4), hekeys.TypeKSShare, share(4, r2), "wrong_state")
	w.run(all)

	t.Run("a request is proved against the app hash", func(t *testing.T) {
		q := w.query("/he/request/1", true)
		last := info(t, w.apps[0])
		if err := store.VerifyMembership(last.LastBlockAppHash, decodeProof(t, q), q.Key, q.Value); err != nil {
			t.Fatalf("proof does not verify: %v", err)
		}
	})
}
