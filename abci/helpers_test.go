package abci

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

const testChainID = "medchain-test-1"

// testKey derives an ed25519 key from a name, so every run (and every app
// of a run) uses the same keys.
func testKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("medchain test key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

// user is a key holder of the test chain.
type user struct {
	priv ed25519.PrivateKey
	addr string
}

func newUser(name string) user {
	priv := testKey(name)
	return user{priv: priv, addr: pb.AddressOf(priv.Public().(ed25519.PublicKey))}
}

func (u user) pub() ed25519.PublicKey { return u.priv.Public().(ed25519.PublicKey) }

// addrBytes is u's address as the 20 bytes state keys use.
func (u user) addrBytes(t testing.TB) [20]byte {
	t.Helper()
	a, err := pb.ParseAddress(u.addr)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// testChain is a two-hospital alliance: h1 and h2, each with a validator
// key and an operator account, and one genesis researcher.
type testChain struct {
	appState   []byte
	validators []abcitypes.ValidatorUpdate
	op1, op2   user
	researcher user
}

func newTestChain(t testing.TB) *testChain {
	t.Helper()
	c := &testChain{op1: newUser("op1"), op2: newUser("op2"), researcher: newUser("researcher")}
	s := genesis.AppState{
		Alliance: "Test Alliance",
		Params:   genesis.DefaultParams(),
		Accounts: []genesis.Account{{PubKey: c.researcher.pub(), Role: "researcher", Label: "lab"}},
	}
	for i, op := range []user{c.op1, c.op2} {
		val := testKey(fmt.Sprintf("validator%d", i+1)).Public().(ed25519.PublicKey)
		power := int64(10 * (i + 1))
		s.Hospitals = append(s.Hospitals, genesis.Hospital{
			ID: fmt.Sprintf("h%d", i+1), Name: fmt.Sprintf("Hospital %d", i+1),
			ValidatorPubKey: val, Power: power, OperatorPubKey: op.pub(),
		})
		c.validators = append(c.validators, abcitypes.UpdateValidator(val, power, "ed25519"))
	}
	bz, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	c.appState = bz
	return c
}

// initChainRequest is the InitChain CometBFT sends for c.
func (c *testChain) initChainRequest() *abcitypes.RequestInitChain {
	return &abcitypes.RequestInitChain{
		Time:          time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC),
		ChainId:       testChainID,
		Validators:    c.validators,
		AppStateBytes: c.appState,
		InitialHeight: 1,
	}
}

// openApp opens a store in dir and returns an app over it; the store is
// closed at the end of the test unless the test closes it first.
func openApp(t testing.TB, dir string) (*App, *store.Store) {
	t.Helper()
	st, err := store.Open(store.Options{Dir: dir})
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return New(testChainID, st, nil), st
}

// newApp returns an app in a fresh directory after InitChain, and its dir.
func (c *testChain) newApp(t testing.TB) (*App, string) {
	t.Helper()
	dir := t.TempDir()
	app, _ := openApp(t, dir)
	if _, err := app.InitChain(context.Background(), c.initChainRequest()); err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	return app, dir
}

// newStartedApp is newApp followed by an empty, committed block 1: a chain
// in its steady state, where CheckTx reads a committed height.
func (c *testChain) newStartedApp(t testing.TB) *App {
	t.Helper()
	app, _ := c.newApp(t)
	runBlock(t, app, 1)
	if _, err := accounts.GetParams(committed{app.store}); err != nil {
		t.Fatalf("after block 1 the genesis state is not in committed state: %v", err)
	}
	return app
}

// blockTime is the header time of a test block: a function of the height.
func blockTime(height int64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(height) * 5 * time.Second)
}

func finalize(t testing.TB, app *App, height int64, txs ...[]byte) *abcitypes.ResponseFinalizeBlock {
	t.Helper()
	resp, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{
		Height: height, Time: blockTime(height), Txs: txs,
	})
	if err != nil {
		t.Fatalf("FinalizeBlock(%d): %v", height, err)
	}
	if len(resp.TxResults) != len(txs) {
		t.Fatalf("FinalizeBlock(%d): %d results for %d txs", height, len(resp.TxResults), len(txs))
	}
	return resp
}

func commit(t testing.TB, app *App) {
	t.Helper()
	if _, err := app.Commit(context.Background(), &abcitypes.RequestCommit{}); err != nil {
		t.Fatalf("Commit: %v", err)
	}
}

// runBlock finalizes and commits one block and returns FinalizeBlock's answer.
func runBlock(t testing.TB, app *App, height int64, txs ...[]byte) *abcitypes.ResponseFinalizeBlock {
	t.Helper()
	resp := finalize(t, app, height, txs...)
	commit(t, app)
	return resp
}

func checkTx(t testing.TB, app *App, raw []byte, typ abcitypes.CheckTxType) *abcitypes.ResponseCheckTx {
	t.Helper()
	resp, err := app.CheckTx(context.Background(), &abcitypes.RequestCheckTx{Tx: raw, Type: typ})
	if err != nil {
		t.Fatalf("CheckTx: %v", err)
	}
	return resp
}

func info(t testing.TB, app *App) *abcitypes.ResponseInfo {
	t.Helper()
	resp, err := app.Info(context.Background(), &abcitypes.RequestInfo{})
	if err != nil {
		t.Fatalf("Info: %v", err)
	}
	return resp
}

// signedTx builds a tx of u on the test chain.
func signedTx(t testing.TB, u user, nonce uint64, txType string, payload proto.Message) []byte {
	t.Helper()
	raw, err := tx.Build(u.priv, testChainID, u.addr, nonce, txType, payload)
	if err != nil {
		t.Fatalf("build %s: %v", txType, err)
	}
	return raw
}

// registerTx is op enrolling who with role.
func registerTx(t testing.TB, op user, nonce uint64, who user, role pb.Role) []byte {
	t.Helper()
	return signedTx(t, op, nonce, accounts.TypeRegister, &pb.RegisterAccount{Pubkey: who.pub(), Role: role, Label: "test " + role.String()})
}

func memoTx(t testing.TB, u user, nonce uint64, text string) []byte {
	t.Helper()
	return signedTx(t, u, nonce, memo.TypePost, &pb.PostMemo{Text: text})
}

// codeNamed returns the code of the table row called name.
func codeNamed(t testing.TB, name string) uint32 {
	t.Helper()
	for _, e := range Codes {
		if e.Name == name {
			return e.Code
		}
	}
	t.Fatalf("no code named %q", name)
	return 0
}

// account reads addr's committed account, nil if absent.
func account(t testing.TB, app *App, addr string) *pb.Account {
	t.Helper()
	acc, err := accounts.GetAccount(committed{app.store}, addr)
	if err != nil {
		t.Fatalf("GetAccount(%s): %v", addr, err)
	}
	return acc
}

// attr returns the value of key in the first event of type typ.
func attr(events []abcitypes.Event, typ, key string) (string, bool) {
	for _, e := range events {
		if e.Type != typ {
			continue
		}
		for _, a := range e.Attributes {
			if a.Key == key {
				return a.Value, true
			}
		}
	}
	return "", false
}
