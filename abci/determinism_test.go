package abci

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

// simulation makes reproducible blocks of valid and invalid txs and knows
// the code each must get. Keys come from testKey (ed25519.NewKeyFromSeed),
// choices from a seeded PCG, so every run makes the same blocks.
type simulation struct {
	t       *testing.T
	rng     *rand.Rand
	ops     []user
	members []user // registered in an earlier block: may send txs
	fresh   []user // registered in the current block
	nonce   map[string]uint64
	next    int
}

func newSimulation(t *testing.T, c *testChain) *simulation {
	return &simulation{
		t: t, rng: rand.New(rand.NewPCG(20260101, 42)),
		ops:   []user{c.op1, c.op2},
		nonce: map[string]uint64{},
	}
}

// pick returns a random element of us.
func (s *simulation) pick(us []user) user { return us[s.rng.IntN(len(us))] }

// senders are the users that may send: operators and registered members.
func (s *simulation) senders() []user { return append(append([]user{}, s.ops...), s.members...) }

// block returns the txs of one block and the code each must get.
func (s *simulation) block() (txs [][]byte, want []string) {
	t := s.t
	add := func(raw []byte, code string) { txs, want = append(txs, raw), append(want, code) }
	// authenticated uses u's nonce: the tx authenticates, whatever its contract says.
	authenticated := func(u user) uint64 { n := s.nonce[u.addr]; s.nonce[u.addr]++; return n }

	for range s.rng.IntN(7) {
		switch s.rng.IntN(10) {
		case 0, 1: // an operator enrols someone new
			op := s.pick(s.ops)
			u := newUser(fmt.Sprintf("sim-user-%d", s.next))
			s.next++
			role := []pb.Role{pb.Role_ROLE_PATIENT, pb.Role_ROLE_DOCTOR}[s.rng.IntN(2)]
			add(registerTx(t, op, authenticated(op), u, role), "ok")
			s.fresh = append(s.fresh, u)
		case 2, 3: // anyone posts a memo
			u := s.pick(s.senders())
			add(memoTx(t, u, authenticated(u), fmt.Sprintf("memo %d", s.rng.Uint64())), "ok")
		case 4: // a memo too long for params: denied, nonce advances
			u := s.pick(s.senders())
			add(memoTx(t, u, authenticated(u), strings.Repeat("z", 1025)), "invalid_payload")
		case 5: // a member tries an operator's tx: denied, nonce advances
			if len(s.members) == 0 {
				add([]byte{0x0a, 0x01}, "tx_decode")
				continue
			}
			u := s.pick(s.members)
			add(registerTx(t, u, authenticated(u), newUser("never"), pb.Role_ROLE_PATIENT), "unauthorized")
		case 6: // enrolling an existing account: denied, nonce advances
			op := s.pick(s.ops)
			add(registerTx(t, op, authenticated(op), s.pick(s.senders()), pb.Role_ROLE_PATIENT), "already_exists")
		case 7: // a replayed or skipped nonce: changes nothing
			u := s.pick(s.senders())
			if n := s.nonce[u.addr]; n > 0 {
				add(memoTx(t, u, n-1, "replay"), "nonce_replayed")
			} else {
				add(memoTx(t, u, n+1, "skip"), "nonce_skipped")
			}
		case 8: // a stranger or a forger: changes nothing
			if s.rng.IntN(2) == 0 {
				add(memoTx(t, newUser("stranger"), 0, "hi"), "unknown_signer")
			} else {
				u := s.pick(s.senders())
				raw, err := tx.Build(testKey("forger"), testChainID, u.addr, s.nonce[u.addr], "memo.post", &pb.PostMemo{Text: "forged"})
				if err != nil {
					t.Fatal(err)
				}
				add(raw, "bad_signature")
			}
		case 9: // bytes that are no tx
			junk := make([]byte, 1+s.rng.IntN(40))
			for i := range junk {
				junk[i] = byte(s.rng.Uint32())
			}
			junk[0] = 0xff // never a valid field tag of the envelope
			add(junk, "tx_decode")
		}
	}
	s.members = append(s.members, s.fresh...)
	s.fresh = nil
	return txs, want
}

// TestDeterminism: two nodes fed the same genesis and blocks reach the same
// app hash and the same results at every height, and a node reopened from
// its directory reports exactly where it stopped.
func TestDeterminism(t *testing.T) {
	const blocks = 20
	c := newTestChain(t)
	a, dirA := c.newApp(t)
	b, _ := c.newApp(t)
	sim := newSimulation(t, c)

	var lastHash []byte
	for h := int64(1); h <= blocks; h++ {
		txs, want := sim.block()
		ra, rb := runBlock(t, a, h, txs...), runBlock(t, b, h, txs...)
		if !bytes.Equal(ra.AppHash, rb.AppHash) {
			t.Fatalf("height %d: app hashes differ: %X vs %X", h, ra.AppHash, rb.AppHash)
		}
		ma, err := ra.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		mb, err := rb.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(ma, mb) {
			t.Fatalf("height %d: FinalizeBlock responses differ", h)
		}
		for i, res := range ra.TxResults {
			code := uint32(0)
			if want[i] != "ok" {
				code = codeNamed(t, want[i])
			}
			if res.Code != code {
				t.Fatalf("height %d tx %d: code %d (%s), want %s", h, i, res.Code, res.Log, want[i])
			}
		}
		lastHash = ra.AppHash
	}
	if len(sim.members) == 0 {
		t.Fatal("the simulation registered nobody; change its seed")
	}
	if got := info(t, b); got.LastBlockHeight != blocks || !bytes.Equal(got.LastBlockAppHash, lastHash) {
		t.Fatalf("Info = %d %X, want %d %X", got.LastBlockHeight, got.LastBlockAppHash, blocks, lastHash)
	}

	if err := a.store.Close(); err != nil {
		t.Fatal(err)
	}
	reopened, _ := openApp(t, dirA)
	if got := info(t, reopened); got.LastBlockHeight != blocks || !bytes.Equal(got.LastBlockAppHash, lastHash) {
		t.Fatalf("after reopening, Info = %d %X, want %d %X", got.LastBlockHeight, got.LastBlockAppHash, blocks, lastHash)
	}
	txs, _ := sim.block()
	ra, rb := runBlock(t, reopened, blocks+1, txs...), runBlock(t, b, blocks+1, txs...)
	if !bytes.Equal(ra.AppHash, rb.AppHash) {
		t.Fatalf("the reopened node diverged at height %d", blocks+1)
	}
}

// TestRestart: a node stopped after a commit resumes from it; one stopped
// between FinalizeBlock and Commit loses that block and, when CometBFT
// replays it, computes the same result.
func TestRestart(t *testing.T) {
	ctx := context.Background()
	c := newTestChain(t)
	app, dir := c.newApp(t)
	patient := newUser("patient")
	runBlock(t, app, 1, registerTx(t, c.op1, 0, patient, pb.Role_ROLE_PATIENT))
	runBlock(t, app, 2, memoTx(t, patient, 0, "first"))
	b3 := runBlock(t, app, 3, memoTx(t, c.op1, 1, "third"))

	if err := app.store.Close(); err != nil {
		t.Fatal(err)
	}
	app, _ = openApp(t, dir)
	if got := info(t, app); got.LastBlockHeight != 3 || !bytes.Equal(got.LastBlockAppHash, b3.AppHash) {
		t.Fatalf("after restart Info = %d %X, want 3 %X", got.LastBlockHeight, got.LastBlockAppHash, b3.AppHash)
	}
	if acc := account(t, app, patient.addr); acc == nil || acc.Sequence != 1 {
		t.Fatalf("after restart the patient is %v, want sequence 1", acc)
	}
	if _, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: 3}); err == nil {
		t.Fatal("FinalizeBlock of the committed height 3 succeeded after restart")
	}
	if res := checkTx(t, app, memoTx(t, patient, 1, "after restart"), abcitypes.CheckTxType_New); res.Code != 0 {
		t.Fatalf("CheckTx after restart: %d %s", res.Code, res.Log)
	}

	block4 := [][]byte{memoTx(t, patient, 1, "after restart"), memoTx(t, c.op1, 2, "fourth")}
	b4 := finalize(t, app, 4, block4...)
	for i, r := range b4.TxResults {
		if r.Code != 0 {
			t.Fatalf("block 4 tx %d: %d %s", i, r.Code, r.Log)
		}
	}

	t.Run("a block finalized but not committed is replayed to the same hash", func(t *testing.T) {
		if err := app.store.Close(); err != nil {
			t.Fatal(err)
		}
		app, _ = openApp(t, dir)
		if got := info(t, app); got.LastBlockHeight != 3 || !bytes.Equal(got.LastBlockAppHash, b3.AppHash) {
			t.Fatalf("Info = %d %X, want the last commit 3 %X", got.LastBlockHeight, got.LastBlockAppHash, b3.AppHash)
		}
		again := runBlock(t, app, 4, block4...)
		if !bytes.Equal(again.AppHash, b4.AppHash) {
			t.Fatalf("replayed block 4 hash %X, first run %X", again.AppHash, b4.AppHash)
		}
		if got := info(t, app); got.LastBlockHeight != 4 || !bytes.Equal(got.LastBlockAppHash, b4.AppHash) {
			t.Fatalf("Info = %d %X, want 4 %X", got.LastBlockHeight, got.LastBlockAppHash, b4.AppHash)
		}
	})
}

// TestInitialHeight: a genesis may start the chain at any initial_height
// (CometBFT sends it in InitChain, the node opens the store with it); the
// first block then has that height.
func TestInitialHeight(t *testing.T) {
	const initial = 5
	c := newTestChain(t)
	st, err := store.Open(store.Options{Dir: t.TempDir(), InitialHeight: initial})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	app := New(testChainID, st, nil)
	req := c.initChainRequest()
	req.InitialHeight = initial
	if _, err := app.InitChain(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	resp, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{
		Height: initial, Time: blockTime(initial), Txs: [][]byte{memoTx(t, c.op1, 0, "first block")},
	})
	if err != nil {
		t.Fatalf("FinalizeBlock of the initial height %d: %v", initial, err)
	}
	if resp.TxResults[0].Code != 0 {
		t.Fatalf("tx in the first block: %d %s", resp.TxResults[0].Code, resp.TxResults[0].Log)
	}
	commit(t, app)
	if got := info(t, app); got.LastBlockHeight != initial || !bytes.Equal(got.LastBlockAppHash, resp.AppHash) {
		t.Fatalf("Info = %d %X, want %d %X", got.LastBlockHeight, got.LastBlockAppHash, initial, resp.AppHash)
	}
	runBlock(t, app, initial+1)
}
