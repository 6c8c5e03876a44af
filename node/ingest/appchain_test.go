package ingest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// appChain is a one-node chain in the test process: the real medchain app
// over a real store, a mempool with CheckTx and recheck, and blocks built
// (PrepareProposal, FinalizeBlock, Commit) whenever a client waits for a
// pending tx or asks the height while txs are pending — time passes when
// someone waits. It implements Chain.
type appChain struct {
	mu      sync.Mutex
	t       testing.TB
	app     *abci.App
	chainID string
	height  int64
	mempool [][]byte
	results map[string]chainrpc.TxResult

	// failAfter makes every broadcast after this many fail like a lost
	// connection (-1: never).
	failAfter  int
	broadcasts int

	appState []byte // the genesis, for another
	vals     []abcitypes.ValidatorUpdate
}

const testChainID = "medchain-ingest-test"

// testHospital is a member's home: its keyring holds the operator and
// seal keys, its config the alliance pepper.
type testHospital struct {
	id, home string
	operator ed25519.PublicKey
	sealPub  [32]byte
}

// newAlliance makes n hospital homes (h1 … hn) sharing one pepper and a
// running appChain whose genesis has them as members.
func newAlliance(t testing.TB, n int) ([]*testHospital, *appChain) {
	t.Helper()
	pepper, err := vault.GeneratePepper()
	if err != nil {
		t.Fatal(err)
	}
	s := genesis.AppState{Alliance: "ingest test", Params: genesis.DefaultParams()}
	var vals []abcitypes.ValidatorUpdate
	var hs []*testHospital
	for i := 1; i <= n; i++ {
		h := &testHospital{id: fmt.Sprintf("h%d", i), home: t.TempDir()}
		kr, err := keyring.Open(node.KeyringDir(h.home), keyring.BackendTest, nil)
		if err != nil {
			t.Fatal(err)
		}
		op, err := kr.Add(node.OperatorKeyName)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := kr.Add(node.SealKeyName); err != nil {
			t.Fatal(err)
		}
		seal, err := kr.Signer(node.SealKeyName)
		if err != nil {
			t.Fatal(err)
		}
		_, h.sealPub = recordcrypto.SealKeyPair([32]byte(seal.Seed()))
		h.operator = op.PubKey
		if err := vault.WritePepper(h.home, pepper); err != nil {
			t.Fatal(err)
		}
		valPub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s.Hospitals = append(s.Hospitals, genesis.Hospital{
			ID: h.id, Name: "Hospital " + h.id, ValidatorPubKey: valPub, Power: 10, OperatorPubKey: op.PubKey, SealPubKey: h.sealPub[:],
		})
		vals = append(vals, abcitypes.UpdateValidator(valPub, 10, "ed25519"))
		hs = append(hs, h)
	}
	raw, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	return hs, startChain(t, raw, vals)
}

// startChain runs InitChain with the genesis and commits an empty block 1.
func startChain(t testing.TB, appState []byte, vals []abcitypes.ValidatorUpdate) *appChain {
	t.Helper()
	st, err := store.Open(store.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	c := &appChain{t: t, app: abci.New(testChainID, st, nil), chainID: testChainID, results: map[string]chainrpc.TxResult{}, failAfter: -1,
		appState: appState, vals: vals}
	if _, err := c.app.InitChain(context.Background(), &abcitypes.RequestInitChain{
		Time: blockTime(0), ChainId: testChainID, Validators: vals, AppStateBytes: appState, InitialHeight: 1,
	}); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.block()
	c.mu.Unlock()
	return c
}

// another starts a new chain from the same genesis: same members, empty state.
func (c *appChain) another() *appChain { return startChain(c.t, c.appState, c.vals) }

func blockTime(h int64) time.Time {
	return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(h) * time.Second)
}

// block builds, runs and commits one block of the mempool; the caller holds mu.
func (c *appChain) block() {
	ctx := context.Background()
	c.height++
	prep, err := c.app.PrepareProposal(ctx, &abcitypes.RequestPrepareProposal{Txs: c.mempool, MaxTxBytes: 64 << 20, Height: c.height, Time: blockTime(c.height)})
	if err != nil {
		c.t.Fatalf("PrepareProposal: %v", err)
	}
	fin, err := c.app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Txs: prep.Txs, Height: c.height, Time: blockTime(c.height)})
	if err != nil {
		c.t.Fatalf("FinalizeBlock: %v", err)
	}
	included := map[string]bool{}
	for i, raw := range prep.Txs {
		r := fin.TxResults[i]
		c.results[string(tx.Hash(raw))] = chainrpc.TxResult{Height: c.height, Code: r.Code, Log: r.Log}
		included[string(raw)] = true
	}
	if _, err := c.app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
		c.t.Fatalf("Commit: %v", err)
	}
	var left [][]byte
	for _, raw := range c.mempool {
		if included[string(raw)] {
			continue
		}
		res, err := c.app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: raw, Type: abcitypes.CheckTxType_Recheck})
		if err == nil && res.Code == 0 {
			left = append(left, raw)
		}
	}
	c.mempool = left
}

// Query implements Chain.
func (c *appChain) Query(ctx context.Context, path string) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	res, err := c.app.Query(ctx, &abcitypes.RequestQuery{Path: path})
	if err != nil {
		return nil, err
	}
	if res.Code != 0 {
		return nil, fmt.Errorf("query %s refused: code %d: %s", path, res.Code, res.Log)
	}
	if len(res.Value) == 0 {
		return nil, nil
	}
	return res.Value, nil
}

// Broadcast implements Chain.
func (c *appChain) Broadcast(ctx context.Context, raw []byte) (chainrpc.Broadcast, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failAfter >= 0 && c.broadcasts >= c.failAfter {
		return chainrpc.Broadcast{}, errors.New("appchain: connection lost")
	}
	c.broadcasts++
	hash := tx.Hash(raw)
	for _, m := range c.mempool {
		if bytes.Equal(m, raw) {
			return chainrpc.Broadcast{Hash: hash, InCache: true}, nil
		}
	}
	res, err := c.app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: raw, Type: abcitypes.CheckTxType_New})
	if err != nil {
		return chainrpc.Broadcast{}, err
	}
	if res.Code == 0 {
		c.mempool = append(c.mempool, raw)
	}
	return chainrpc.Broadcast{Code: res.Code, Log: res.Log, Hash: hash}, nil
}

// TxResult implements Chain: waiting for a pending tx makes a block.
func (c *appChain) TxResult(_ context.Context, hash []byte) (chainrpc.TxResult, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if r, ok := c.results[string(hash)]; ok {
		return r, true, nil
	}
	for _, m := range c.mempool {
		if bytes.Equal(tx.Hash(m), hash) {
			c.block()
			r, ok := c.results[string(hash)]
			return r, ok, nil
		}
	}
	return chainrpc.TxResult{}, false, nil
}

// Status implements Chain: asking the height while txs are pending makes a
// block.
func (c *appChain) Status(context.Context) (chainrpc.Status, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.mempool) > 0 {
		c.block()
	}
	return chainrpc.Status{ChainID: c.chainID, Height: c.height}, nil
}

// pending is the number of txs in the mempool.
func (c *appChain) pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.mempool)
}

// failBroadcastsAfter makes broadcasts fail after n more (n < 0: never).
func (c *appChain) failBroadcastsAfter(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.broadcasts = 0
	c.failAfter = n
}
