package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	cmttypes "github.com/cometbft/cometbft/types"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	ics23 "github.com/cosmos/ics23/go"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
)

// TestLifecycle drives one tx through every ABCI call CometBFT makes, then
// checks the committed result with a proof against the app hash.
func TestLifecycle(t *testing.T) {
	ctx := context.Background()
	c := newTestChain(t)
	app, _ := openApp(t, t.TempDir())

	gen, err := app.InitChain(ctx, c.initChainRequest())
	if err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	if got := info(t, app); got.LastBlockHeight != 0 || got.AppVersion != AppVersion {
		t.Fatalf("Info before any block = height %d, app version %d", got.LastBlockHeight, got.AppVersion)
	}

	patient := newUser("patient")
	reg := registerTx(t, c.op1, 0, patient, pb.Role_ROLE_PATIENT)

	if res := checkTx(t, app, reg, abcitypes.CheckTxType_New); res.Code != 0 {
		t.Fatalf("CheckTx = %d %s", res.Code, res.Log)
	}
	prep, err := app.PrepareProposal(ctx, &abcitypes.RequestPrepareProposal{Txs: [][]byte{reg}, MaxTxBytes: 1 << 20, Height: 1, Time: blockTime(1)})
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.Txs) != 1 || !bytes.Equal(prep.Txs[0], reg) {
		t.Fatalf("PrepareProposal kept %d txs, want the register tx", len(prep.Txs))
	}
	proc, err := app.ProcessProposal(ctx, &abcitypes.RequestProcessProposal{Txs: prep.Txs, Height: 1, Time: blockTime(1)})
	if err != nil || proc.Status != abcitypes.ResponseProcessProposal_ACCEPT {
		t.Fatalf("ProcessProposal = %v, %v", proc, err)
	}

	fb := finalize(t, app, 1, prep.Txs...)
	res := fb.TxResults[0]
	if res.Code != 0 {
		t.Fatalf("register tx: code %d %s", res.Code, res.Log)
	}
	for _, want := range []struct{ typ, key, value string }{
		{"tx", "signer", c.op1.addr},
		{"tx", "nonce", "0"},
		{"tx", "type", accounts.TypeRegister},
		{"tx", "outcome", "ok"},
		{accounts.EventRegistered, "address", patient.addr},
		{accounts.EventRegistered, "hospital", "h1"},
	} {
		if got, _ := attr(res.Events, want.typ, want.key); got != want.value {
			t.Errorf("event %s.%s = %q, want %q", want.typ, want.key, got, want.value)
		}
	}
	if bytes.Equal(fb.AppHash, gen.AppHash) {
		t.Fatal("the app hash did not change with the state")
	}

	t.Run("between FinalizeBlock and Commit queries see the last commit", func(t *testing.T) {
		q, err := app.Query(ctx, &abcitypes.RequestQuery{Path: "/account/" + patient.addr})
		if err != nil || q.Code != 0 || q.Value != nil {
			t.Fatalf("Query = %+v, %v; want no value", q, err)
		}
	})

	commit(t, app)
	inf := info(t, app)
	if inf.LastBlockHeight != 1 || !bytes.Equal(inf.LastBlockAppHash, fb.AppHash) {
		t.Fatalf("Info = %d %X, want 1 and FinalizeBlock's %X", inf.LastBlockHeight, inf.LastBlockAppHash, fb.AppHash)
	}
	if acc := account(t, app, c.op1.addr); acc.Sequence != 1 {
		t.Errorf("operator sequence = %d, want 1", acc.Sequence)
	}

	t.Run("a present account is proved against the app hash", func(t *testing.T) {
		q, err := app.Query(ctx, &abcitypes.RequestQuery{Path: "/account/" + patient.addr, Prove: true})
		if err != nil || q.Code != 0 || q.Height != 1 {
			t.Fatalf("Query = %+v, %v", q, err)
		}
		var acc pb.Account
		if err := tx.Unmarshal(q.Value, &acc); err != nil {
			t.Fatal(err)
		}
		if acc.Address != patient.addr || acc.Role != pb.Role_ROLE_PATIENT || acc.Hospital != "h1" || acc.CreatedHeight != 1 {
			t.Errorf("account = %v", &acc)
		}
		proof := decodeProof(t, q)
		if err := store.VerifyMembership(inf.LastBlockAppHash, proof, q.Key, q.Value); err != nil {
			t.Fatalf("proof does not verify: %v", err)
		}
		if err := store.VerifyMembership(gen.AppHash, proof, q.Key, q.Value); err == nil {
			t.Fatal("proof verifies against the genesis app hash")
		}
		tampered := bytes.Clone(q.Value)
		tampered[len(tampered)-1] ^= 1
		if err := store.VerifyMembership(inf.LastBlockAppHash, proof, q.Key, tampered); err == nil {
			t.Fatal("proof verifies a tampered value")
		}
	})
	t.Run("an absent account is proved absent against the app hash", func(t *testing.T) {
		nobody := newUser("nobody")
		q, err := app.Query(ctx, &abcitypes.RequestQuery{Path: "/account/" + nobody.addr, Prove: true})
		if err != nil || q.Code != 0 || q.Value != nil {
			t.Fatalf("Query = %+v, %v", q, err)
		}
		if err := store.VerifyNonMembership(inf.LastBlockAppHash, decodeProof(t, q), q.Key); err != nil {
			t.Fatalf("absence proof does not verify: %v", err)
		}
		if want := accounts.AccountKey(nobody.addrBytes(t)); !bytes.Equal(q.Key, want) {
			t.Fatalf("proof key %X, want the account key %X", q.Key, want)
		}
	})
}

func decodeProof(t *testing.T, q *abcitypes.ResponseQuery) *ics23.CommitmentProof {
	t.Helper()
	if q.ProofOps == nil || len(q.ProofOps.Ops) != 1 {
		t.Fatalf("ProofOps = %v, want one op", q.ProofOps)
	}
	op := q.ProofOps.Ops[0]
	if op.Type != ProofOpType || !bytes.Equal(op.Key, q.Key) {
		t.Fatalf("proof op %q for key %X, want %q for %X", op.Type, op.Key, ProofOpType, q.Key)
	}
	var p ics23.CommitmentProof
	if err := p.Unmarshal(op.Data); err != nil {
		t.Fatalf("proof does not decode: %v", err)
	}
	return &p
}

// TestTxsAreAcceptedBeforeTheFirstCommit: CometBFT opens its mempool and
// the first proposal right after InitChain, before block 1 is committed. A
// valid tx must get in then too; the genesis state exists (InitChain wrote
// it), it is only not committed yet.
func TestTxsAreAcceptedBeforeTheFirstCommit(t *testing.T) {
	c := newTestChain(t)
	app, _ := c.newApp(t)
	reg := registerTx(t, c.op1, 0, newUser("patient"), pb.Role_ROLE_PATIENT)

	res := checkTx(t, app, reg, abcitypes.CheckTxType_New)
	if res.Code != 0 {
		t.Errorf("CheckTx before block 1 = %d %s; want 0", res.Code, res.Log)
	}
	if bad := checkTx(t, app, []byte("garbage"), abcitypes.CheckTxType_New); bad.Code != codeNamed(t, "tx_decode") {
		t.Errorf("CheckTx of garbage before block 1 = %d %s; want tx_decode", bad.Code, bad.Log)
	}
	prep, err := app.PrepareProposal(context.Background(), &abcitypes.RequestPrepareProposal{Txs: [][]byte{reg}, MaxTxBytes: 1 << 20, Height: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.Txs) != 1 {
		t.Errorf("PrepareProposal for block 1 dropped a valid tx")
	}
	// FinalizeBlock runs on the working state, which holds genesis.
	if fb := finalize(t, app, 1, reg); fb.TxResults[0].Code != 0 {
		t.Errorf("register tx in block 1: %d %s", fb.TxResults[0].Code, fb.TxResults[0].Log)
	}
}

// rejectionFixture is an app and its twin after block 1 (empty) and block 2
// (op1 registers a patient, op2 a doctor): the same state in two stores.
type rejectionFixture struct {
	*testChain
	app, twin        *App
	patient, doctor  user
	stranger, forger user
}

func newRejectionFixture(t *testing.T) *rejectionFixture {
	t.Helper()
	c := newTestChain(t)
	f := &rejectionFixture{testChain: c, patient: newUser("patient"), doctor: newUser("doctor"),
		stranger: newUser("stranger"), forger: newUser("forger")}
	f.app, _ = c.newApp(t)
	f.twin, _ = c.newApp(t)
	block2 := [][]byte{
		registerTx(t, c.op1, 0, f.patient, pb.Role_ROLE_PATIENT),
		registerTx(t, c.op2, 0, f.doctor, pb.Role_ROLE_DOCTOR),
	}
	for _, a := range []*App{f.app, f.twin} {
		runBlock(t, a, 1)
		for i, r := range runBlock(t, a, 2, block2...).TxResults {
			if r.Code != 0 {
				t.Fatalf("fixture tx %d: %d %s", i, r.Code, r.Log)
			}
		}
	}
	return f
}

// TestRejections: every way a tx can fail gets its own code, in CheckTx and
// in FinalizeBlock. A tx that fails authentication changes nothing; one that
// authenticates but is denied by its contract only advances the signer's
// nonce, and is on the ledger as a "tx" event with outcome=denied.
func TestRejections(t *testing.T) {
	memoPost := func(text string) *pb.PostMemo { return &pb.PostMemo{Text: text} }
	tests := []struct {
		name string
		tx   func(t *testing.T, f *rejectionFixture) []byte
		// check and block name the codes CheckTx and FinalizeBlock give
		// ("ok" = 0).
		check, block string
		// deniedSigner is set when the tx authenticates: whose nonce advances.
		deniedSigner func(f *rejectionFixture) user
	}{
		{
			name:  "bytes that are no tx are tx_decode",
			tx:    func(*testing.T, *rejectionFixture) []byte { return []byte("definitely not a tx") },
			check: "tx_decode", block: "tx_decode",
		},
		{
			name: "a tx over params.max_tx_bytes is tx_too_large",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return signedTx(t, f.op1, 1, "memo.post", memoPost(strings.Repeat("x", 4<<20)))
			},
			check: "tx_too_large", block: "tx_too_large",
		},
		{
			name: "a tx signed with another key is bad_signature",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				raw, err := tx.Build(f.forger.priv, testChainID, f.op1.addr, 1, "memo.post", memoPost("it's me"))
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			check: "bad_signature", block: "bad_signature",
		},
		{
			name: "a tx for another chain is wrong_chain_id",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				raw, err := tx.Build(f.op1.priv, "other-chain", f.op1.addr, 1, "memo.post", memoPost("hi"))
				if err != nil {
					t.Fatal(err)
				}
				return raw
			},
			check: "wrong_chain_id", block: "wrong_chain_id",
		},
		{
			name:  "a tx from a key with no account is unknown_signer",
			tx:    func(t *testing.T, f *rejectionFixture) []byte { return memoTx(t, f.stranger, 0, "hi") },
			check: "unknown_signer", block: "unknown_signer",
		},
		{
			name:  "a used nonce is nonce_replayed",
			tx:    func(t *testing.T, f *rejectionFixture) []byte { return memoTx(t, f.op1, 0, "again") },
			check: "nonce_replayed", block: "nonce_replayed",
		},
		{
			name:  "a nonce past the sequence is nonce_skipped",
			tx:    func(t *testing.T, f *rejectionFixture) []byte { return memoTx(t, f.op1, 2, "early") },
			check: "nonce_skipped", block: "nonce_skipped",
		},
		{
			name: "a type no contract handles is unknown_tx_type",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return signedTx(t, f.op1, 1, "nothing.handles_this", memoPost("x"))
			},
			check: "unknown_tx_type", block: "unknown_tx_type",
		},
		{
			name: "a register with a short key is invalid_payload",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return signedTx(t, f.op1, 1, accounts.TypeRegister, &pb.RegisterAccount{Pubkey: []byte{1, 2, 3}, Role: pb.Role_ROLE_PATIENT, Label: "p"})
			},
			check: "invalid_payload", block: "invalid_payload",
		},
		{
			name: "a payload of another message is invalid_payload",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return signedTx(t, f.op1, 1, "memo.post", &pb.Account{Address: "hi", Pubkey: []byte{1}})
			},
			check: "invalid_payload", block: "invalid_payload",
		},
		{
			name: "a patient registering an account is unauthorized",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return registerTx(t, f.patient, 0, f.stranger, pb.Role_ROLE_PATIENT)
			},
			check: "unauthorized", block: "unauthorized",
			deniedSigner: func(f *rejectionFixture) user { return f.patient },
		},
		{
			name: "a researcher registering an account is unauthorized",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return registerTx(t, f.researcher, 0, f.stranger, pb.Role_ROLE_DOCTOR)
			},
			check: "unauthorized", block: "unauthorized",
			deniedSigner: func(f *rejectionFixture) user { return f.researcher },
		},
		{
			// CheckTx runs no contract, so only the block finds the account.
			name: "registering an existing account is already_exists",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return registerTx(t, f.op1, 1, f.doctor, pb.Role_ROLE_PATIENT)
			},
			check: "ok", block: "already_exists",
			deniedSigner: func(f *rejectionFixture) user { return f.op1 },
		},
		{
			name: "a memo over params.max_memo_bytes is invalid_payload when executed",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return memoTx(t, f.doctor, 0, strings.Repeat("m", 1025))
			},
			check: "ok", block: "invalid_payload",
			deniedSigner: func(f *rejectionFixture) user { return f.doctor },
		},
		{
			name: "a label over params.max_label_bytes is invalid_payload when executed",
			tx: func(t *testing.T, f *rejectionFixture) []byte {
				return signedTx(t, f.op2, 1, accounts.TypeRegister, &pb.RegisterAccount{Pubkey: f.stranger.pub(), Role: pb.Role_ROLE_PATIENT, Label: strings.Repeat("l", 129)})
			},
			check: "ok", block: "invalid_payload",
			deniedSigner: func(f *rejectionFixture) user { return f.op2 },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newRejectionFixture(t)
			raw := tt.tx(t, f)
			wantCheck, wantBlock := uint32(0), codeNamed(t, tt.block)
			if tt.check != "ok" {
				wantCheck = codeNamed(t, tt.check)
			}

			ct := checkTx(t, f.app, raw, abcitypes.CheckTxType_New)
			if ct.Code != wantCheck {
				t.Fatalf("CheckTx code = %d (%s), want %d", ct.Code, ct.Log, wantCheck)
			}
			if wantCheck != 0 {
				if ct.Codespace != Codespace || !strings.HasPrefix(ct.Log, tt.check+": ") {
					t.Errorf("CheckTx codespace %q log %q, want %q and a log starting %q", ct.Codespace, ct.Log, Codespace, tt.check+": ")
				}
				// A refused tx must not move the mempool's nonce view.
				if next := checkTx(t, f.app, memoTx(t, f.op1, 1, "next"), abcitypes.CheckTxType_New); next.Code != 0 {
					t.Errorf("after the refusal op1's next tx fails CheckTx: %d %s", next.Code, next.Log)
				}
			}

			got := finalize(t, f.app, 3, raw)
			empty := finalize(t, f.twin, 3)
			res := got.TxResults[0]
			if res.Code != wantBlock {
				t.Fatalf("FinalizeBlock code = %d (%s), want %d", res.Code, res.Log, wantBlock)
			}
			if res.Codespace != Codespace || !strings.HasPrefix(res.Log, tt.block+": ") {
				t.Errorf("result codespace %q log %q, want %q and a log starting %q", res.Codespace, res.Log, Codespace, tt.block+": ")
			}

			if tt.deniedSigner == nil {
				if !bytes.Equal(got.AppHash, empty.AppHash) {
					t.Fatalf("a tx failing authentication changed the app hash")
				}
				if len(res.Events) != 0 {
					t.Errorf("a tx failing authentication emitted %v", res.Events)
				}
				return
			}

			signer := tt.deniedSigner(f)
			before := account(t, f.app, signer.addr)
			if bytes.Equal(got.AppHash, empty.AppHash) {
				t.Fatal("a denied tx did not advance its signer's nonce")
			}
			for key, want := range map[string]string{"outcome": "denied", "signer": signer.addr, "nonce": fmt.Sprint(before.Sequence)} {
				if v, _ := attr(res.Events, "tx", key); v != want {
					t.Errorf("tx event %s = %q, want %q", key, v, want)
				}
			}
			if len(res.Events) != 1 {
				t.Errorf("a denied tx emitted %d events, want only its tx event", len(res.Events))
			}
			commit(t, f.app)
			after := account(t, f.app, signer.addr)
			before.Sequence++
			if !equalAccounts(before, after) {
				t.Fatalf("signer after the denied tx = %v, want %v", after, before)
			}
			if acc := account(t, f.app, f.stranger.addr); acc != nil {
				t.Fatalf("a denied register created %v", acc)
			}
		})
	}
}

func equalAccounts(a, b *pb.Account) bool {
	return a.Address == b.Address && bytes.Equal(a.Pubkey, b.Pubkey) && a.Role == b.Role &&
		a.Hospital == b.Hospital && a.Sequence == b.Sequence && a.Label == b.Label && a.CreatedHeight == b.CreatedHeight
}

// TestCheckTxNonceOverlay: CheckTx lets a signer queue txs in nonce order
// before they are committed, and forgets the queue at Commit; the recheck
// that follows rebuilds it from what is still in the mempool.
func TestCheckTxNonceOverlay(t *testing.T) {
	const (
		ok       = "ok"
		replayed = "nonce_replayed"
		skipped  = "nonce_skipped"
	)
	type step struct {
		what  string
		nonce uint64 // of an op1 memo; each step's text differs, so each is a new tx
		typ   abcitypes.CheckTxType
		want  string
	}
	check := func(t *testing.T, app *App, op user, steps []step) {
		t.Helper()
		for i, s := range steps {
			raw := memoTx(t, op, s.nonce, fmt.Sprintf("memo %d", s.nonce))
			if s.what == "resend" {
				raw = memoTx(t, op, s.nonce, fmt.Sprintf("another memo %d", i))
			}
			want := uint32(0)
			if s.want != ok {
				want = codeNamed(t, s.want)
			}
			if res := checkTx(t, app, raw, s.typ); res.Code != want {
				t.Fatalf("step %d (%s nonce %d): code %d %s, want %s", i, s.what, s.nonce, res.Code, res.Log, s.want)
			}
		}
	}
	newTx, recheck := abcitypes.CheckTxType_New, abcitypes.CheckTxType_Recheck

	t.Run("queued txs pass in order and the overlay resets at Commit", func(t *testing.T) {
		c := newTestChain(t)
		app := c.newStartedApp(t)
		check(t, app, c.op1, []step{
			{"send", 0, newTx, ok},
			{"send", 1, newTx, ok},
			{"resend", 1, newTx, replayed},
			{"send", 3, newTx, skipped},
		})
		if res := checkTx(t, app, memoTx(t, c.op2, 0, "op2's own sequence"), newTx); res.Code != 0 {
			t.Fatalf("another signer's first tx: %d %s", res.Code, res.Log)
		}
		runBlock(t, app, 2, memoTx(t, c.op1, 0, "memo 0"))
		check(t, app, c.op1, []step{
			{"recheck", 1, recheck, ok},
			{"resend", 0, newTx, replayed},
			{"send", 2, newTx, ok},
		})
	})
	t.Run("after a block without them the recheck rebuilds the overlay", func(t *testing.T) {
		c := newTestChain(t)
		app := c.newStartedApp(t)
		check(t, app, c.op1, []step{{"send", 0, newTx, ok}, {"send", 1, newTx, ok}})
		runBlock(t, app, 2)
		check(t, app, c.op1, []step{
			{"recheck", 0, recheck, ok},
			{"recheck", 1, recheck, ok},
			{"resend", 1, newTx, replayed},
			{"send", 2, newTx, ok},
		})
	})
	t.Run("a committed tx fails its recheck", func(t *testing.T) {
		c := newTestChain(t)
		app := c.newStartedApp(t)
		check(t, app, c.op1, []step{{"send", 0, newTx, ok}})
		runBlock(t, app, 2, memoTx(t, c.op1, 0, "memo 0"))
		check(t, app, c.op1, []step{{"recheck", 0, recheck, replayed}, {"send", 1, newTx, ok}})
	})
}

func TestPrepareProposalKeepsWhatWouldAuthenticate(t *testing.T) {
	c := newTestChain(t)
	app := c.newStartedApp(t)
	a0, a1 := memoTx(t, c.op1, 0, "a0"), memoTx(t, c.op1, 1, "a1")
	a1again := memoTx(t, c.op1, 1, "a1 again")
	a3 := memoTx(t, c.op1, 3, "a3")
	b0 := memoTx(t, c.op2, 0, "b0")
	unauthorized := registerTx(t, c.researcher, 0, newUser("x"), pb.Role_ROLE_PATIENT)
	all := [][]byte{a0, []byte("garbage"), a1, a3, a1again, b0}

	tests := []struct {
		name     string
		txs      [][]byte
		maxBytes int64
		want     [][]byte
	}{
		{"bad, replayed and skipped txs are dropped, the rest kept in order", all, 1 << 20, [][]byte{a0, a1, b0}},
		{"txs past max_tx_bytes are left for the next block", all, cmttypes.ComputeProtoSizeForTxs([]cmttypes.Tx{a0, a1}), [][]byte{a0, a1}},
		{"a tx after its missing predecessor is dropped", [][]byte{a1, a0}, 1 << 20, [][]byte{a0}},
		{"a tx its contract will deny is proposed: the block records the attempt", [][]byte{unauthorized}, 1 << 20, [][]byte{unauthorized}},
		{"no txs make an empty proposal", nil, 1 << 20, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := app.PrepareProposal(context.Background(), &abcitypes.RequestPrepareProposal{Txs: tt.txs, MaxTxBytes: tt.maxBytes, Height: 2})
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Txs) != len(tt.want) {
				t.Fatalf("kept %d txs, want %d", len(res.Txs), len(tt.want))
			}
			for i := range tt.want {
				if !bytes.Equal(res.Txs[i], tt.want[i]) {
					t.Fatalf("tx %d differs", i)
				}
			}
		})
	}
}

func TestInitChainRejects(t *testing.T) {
	c := newTestChain(t)
	other := newTestChain(t)
	other.validators = []abcitypes.ValidatorUpdate{
		c.validators[0],
		abcitypes.UpdateValidator(testKey("not a member").Public().(ed25519.PublicKey), 20, "ed25519"),
	}
	wrongPower := newTestChain(t)
	wrongPower.validators = []abcitypes.ValidatorUpdate{c.validators[0], c.validators[1]}
	wrongPower.validators[1].Power++

	tests := []struct {
		name  string
		edit  func(r *abcitypes.RequestInitChain)
		inErr string
	}{
		{"a genesis for another chain is refused", func(r *abcitypes.RequestInitChain) { r.ChainId = "other-chain" }, "chain id"},
		{"an empty app state is refused", func(r *abcitypes.RequestInitChain) { r.AppStateBytes = nil }, "empty"},
		{"an app state with an unknown field is refused", func(r *abcitypes.RequestInitChain) {
			r.AppStateBytes = append(bytes.TrimSuffix(bytes.Clone(r.AppStateBytes), []byte("}")), []byte(`,"x":1}`)...)
		}, `unknown field`},
		{"one validator too few is refused", func(r *abcitypes.RequestInitChain) { r.Validators = r.Validators[:1] }, "2 member hospitals"},
		{"a validator that is no member is refused", func(r *abcitypes.RequestInitChain) { r.Validators = other.validators }, "not the validator_pubkey"},
		{"a validator with another power is refused", func(r *abcitypes.RequestInitChain) { r.Validators = wrongPower.validators }, "power"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app, _ := openApp(t, t.TempDir())
			empty := app.store.WorkingHash()
			req := c.initChainRequest()
			tt.edit(req)
			_, err := app.InitChain(context.Background(), req)
			if err == nil || !strings.Contains(err.Error(), tt.inErr) {
				t.Fatalf("InitChain = %v, want an error saying %q", err, tt.inErr)
			}
			if !bytes.Equal(app.store.WorkingHash(), empty) {
				t.Fatal("a refused genesis wrote state")
			}
		})
	}
}

func TestInitChainReturnsTheGenesisAppHash(t *testing.T) {
	c := newTestChain(t)
	a, _ := openApp(t, t.TempDir())
	b, _ := openApp(t, t.TempDir())
	ra, err := a.InitChain(context.Background(), c.initChainRequest())
	if err != nil {
		t.Fatal(err)
	}
	rb, err := b.InitChain(context.Background(), c.initChainRequest())
	if err != nil {
		t.Fatal(err)
	}
	if len(ra.AppHash) == 0 || !bytes.Equal(ra.AppHash, rb.AppHash) {
		t.Fatalf("genesis app hashes %X and %X, want one non-empty hash", ra.AppHash, rb.AppHash)
	}
	if fb := finalize(t, a, 1); !bytes.Equal(fb.AppHash, ra.AppHash) {
		t.Fatalf("an empty block 1 changed the genesis app hash")
	}
}

func TestFinalizeBlockRefusesAnOutOfOrderHeight(t *testing.T) {
	c := newTestChain(t)
	app := c.newStartedApp(t)
	for _, h := range []int64{1, 3} {
		if _, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{Height: h}); err == nil {
			t.Errorf("FinalizeBlock(%d) after block 1 succeeded", h)
		}
	}
	if _, err := app.Commit(context.Background(), &abcitypes.RequestCommit{}); err == nil {
		t.Error("Commit without FinalizeBlock succeeded")
	}
}

func TestQuery(t *testing.T) {
	c := newTestChain(t)
	app := c.newStartedApp(t)
	patient := newUser("patient")
	runBlock(t, app, 2, registerTx(t, c.op1, 0, patient, pb.Role_ROLE_PATIENT), memoTx(t, c.op2, 0, "hello"))
	op2 := c.op2.addr

	tests := []struct {
		name   string
		path   string
		height int64
		code   string // "ok" or a code name
		value  bool   // a value is expected
	}{
		{"an account is found", "/account/" + patient.addr, 0, "ok", true},
		{"an account is absent at a height before its creation", "/account/" + patient.addr, 1, "ok", false},
		{"a hospital is found", "/hospital/h2", 0, "ok", true},
		{"an unknown hospital is absent", "/hospital/h9", 0, "ok", false},
		{"the params are found", "/params", 0, "ok", true},
		{"a memo is found", "/memo/" + op2 + "/0", 0, "ok", true},
		{"a memo never posted is absent", "/memo/" + op2 + "/1", 0, "ok", false},
		{"a raw key is found", "/key/" + hex.EncodeToString(accounts.ParamsKey()), 0, "ok", true},
		{"the hospital list is found", "/hospitals", 0, "ok", true},
		{"a malformed address is bad_query", "/account/mc1XYZ", 0, "bad_query", false},
		{"a memo nonce that is no number is bad_query", "/memo/" + op2 + "/first", 0, "bad_query", false},
		{"a key that is not hex is bad_query", "/key/zz", 0, "bad_query", false},
		{"an empty key is bad_query", "/key/", 0, "bad_query", false},
		{"an unknown path is bad_query", "/grants", 0, "bad_query", false},
		{"a height not yet committed is bad_query", "/params", 99, "bad_query", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := app.Query(context.Background(), &abcitypes.RequestQuery{Path: tt.path, Height: tt.height})
			if err != nil {
				t.Fatal(err)
			}
			want := uint32(0)
			if tt.code != "ok" {
				want = codeNamed(t, tt.code)
			}
			if q.Code != want || (q.Value != nil) != tt.value {
				t.Fatalf("Query = code %d (%s) value %x; want code %d, value %v", q.Code, q.Log, q.Value, want, tt.value)
			}
		})
	}

	t.Run("the hospital list holds every member in id order", func(t *testing.T) {
		q, err := app.Query(context.Background(), &abcitypes.RequestQuery{Path: "/hospitals"})
		if err != nil {
			t.Fatal(err)
		}
		var list pb.HospitalList
		if err := tx.Unmarshal(q.Value, &list); err != nil {
			t.Fatal(err)
		}
		if len(list.Hospitals) != 2 || list.Hospitals[0].Id != "h1" || list.Hospitals[1].Operator != c.op2.addr {
			t.Fatalf("hospitals = %v", list.Hospitals)
		}
	})
	t.Run("every key path answers with its state key", func(t *testing.T) {
		for _, p := range []string{"/account/" + patient.addr, "/hospital/h1", "/params", "/memo/" + op2 + "/0"} {
			k, err := KeyForPath(p)
			if err != nil {
				t.Fatalf("KeyForPath(%s): %v", p, err)
			}
			q, _ := app.Query(context.Background(), &abcitypes.RequestQuery{Path: p})
			if !bytes.Equal(q.Key, k) {
				t.Errorf("Query(%s).Key = %X, want %X", p, q.Key, k)
			}
		}
	})
}

// TestAProposalCarriesAtMostProposalTxBytes: with a full mempool and a
// consensus limit far above it, the proposal stops at ProposalTxBytes and
// the rest waits for the next block.
func TestAProposalCarriesAtMostProposalTxBytes(t *testing.T) {
	c := newTestChain(t)
	app := c.newStartedApp(t)
	first := memoTx(t, c.op1, 0, strings.Repeat("m", 900))
	size := cmttypes.ComputeProtoSizeForTxs([]cmttypes.Tx{first})
	n := int(ProposalTxBytes/size) + 20
	txs := [][]byte{first}
	for i := 1; i < n; i++ {
		txs = append(txs, memoTx(t, c.op1, uint64(i), strings.Repeat("m", 900)))
	}
	res, err := app.PrepareProposal(context.Background(), &abcitypes.RequestPrepareProposal{Txs: txs, MaxTxBytes: 21 << 20, Height: 2})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, raw := range res.Txs {
		total += cmttypes.ComputeProtoSizeForTxs([]cmttypes.Tx{raw})
	}
	if total > ProposalTxBytes || total+size <= ProposalTxBytes || len(res.Txs) >= n {
		t.Fatalf("proposed %d of %d txs, %d bytes; want as many as fit in %d", len(res.Txs), n, total, ProposalTxBytes)
	}
}
