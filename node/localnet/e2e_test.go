package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
)

// medchainBinary builds cmd/medchain once per test run.
var medchainBinary = testenv.MedchainBinary

// startLocalnet generates and starts n validators on free loopback ports and
// stops them when the test ends, dumping logs of a failed test.
func startLocalnet(t *testing.T, ctx context.Context, n int) *Cluster {
	t.Helper()
	return startLocalnetWith(t, ctx, Options{Validators: n})
}

// startLocalnetWith is startLocalnet with more options (Dir and ChainID
// are set here).
func startLocalnetWith(t *testing.T, ctx context.Context, o Options) *Cluster {
	t.Helper()
	o.Dir, o.ChainID = filepath.Join(t.TempDir(), "net"), "medchain-e2e"
	m, err := Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	c := NewCluster(medchainBinary(t), m)
	stopAtCleanup(t, c, nil)
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	for i := range m.Nodes {
		if _, err := c.WaitHeight(ctx, i, 2); err != nil {
			t.Fatal(err)
		}
	}
	// The HE workers sign their ceremony txs with the operator keys the
	// tests also use: let them finish first.
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// stopAtCleanup stops c's nodes when the test ends, fails the test if one
// logged a consensus failure, and, if the test failed, logs each node's
// log tail and what more (if set) picks from that node's log.
func stopAtCleanup(t *testing.T, c *Cluster, more func(i int, log []byte) string) {
	t.Cleanup(func() {
		if err := c.StopAll(); err != nil {
			t.Errorf("stop: %v", err)
		}
		for i := range c.Manifest.Nodes {
			raw, _ := os.ReadFile(c.LogPath(i))
			if bytes.Contains(raw, []byte("CONSENSUS FAILURE")) {
				t.Errorf("node %d logged CONSENSUS FAILURE", i)
			}
			if !t.Failed() {
				continue
			}
			t.Logf("---- node %d log tail ----\n%s", i, tail(raw, 3000))
			if more != nil {
				t.Logf("---- node %d ----\n%s", i, more(i, raw))
			}
		}
	})
}

func operatorKey(t *testing.T, c *Cluster, i int) ed25519.PrivateKey {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[i].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// requireSameAppHashes checks that every node in nodes computed the same app
// hash as node 0 for every height in [from, to], and that it equals the
// header app hash of the next block.
func requireSameAppHashes(t *testing.T, ctx context.Context, c *Cluster, nodes []int, from, to int64) {
	t.Helper()
	for h := from; h <= to; h++ {
		app, hdr, err := c.AppHashes(ctx, nodes, h)
		if err != nil {
			t.Fatalf("height %d: %v", h, err)
		}
		for k := range nodes {
			if !bytes.Equal(app[k], app[0]) || !bytes.Equal(hdr[k], app[0]) {
				t.Fatalf("height %d: node %d app hash %X header %X, node %d has %X", h, nodes[k], app[k], hdr[k], nodes[0], app[0])
			}
		}
	}
}

func minHeight(t *testing.T, ctx context.Context, c *Cluster, nodes []int) int64 {
	t.Helper()
	h := int64(-1)
	for _, i := range nodes {
		cl, err := c.Client(i)
		if err != nil {
			t.Fatal(err)
		}
		st, err := cl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if h < 0 || st.SyncInfo.LatestBlockHeight < h {
			h = st.SyncInfo.LatestBlockHeight
		}
	}
	return h
}

// TestFourValidatorsSurviveKillAndRestart: txs commit through every node;
// kill -9 of one validator under load does not stop the others; the
// restarted node replays what it missed and agrees on every height; every
// tx a client saw committed is still there with the same result.
func TestFourValidatorsSurviveKillAndRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startLocalnet(t, ctx, 4)
	all := []int{0, 1, 2, 3}
	ops := make([]ed25519.PrivateKey, 4)
	cl := make([]*client.Client, 4)
	for i := range ops {
		ops[i] = operatorKey(t, c, i)
		var err error
		if cl[i], err = c.Client(i); err != nil {
			t.Fatal(err)
		}
	}
	type seen struct {
		hash   []byte
		height int64
	}
	var committed []seen
	post := func(via, op int, text string) {
		t.Helper()
		r, err := cl[via].Send(ctx, ops[op], memo.TypePost, &pb.PostMemo{Text: text}, 30*time.Second)
		if err != nil || r.Code != 0 {
			t.Fatalf("memo %q via node %d: %v %+v", text, via, err, r)
		}
		committed = append(committed, seen{r.Hash, r.Height})
	}
	for i := range all {
		post(i, i, fmt.Sprintf("hello from hospital %d", i))
	}

	// Kill node 2 while txs keep flowing through the others.
	victim := 2
	if err := c.Kill(victim); err != nil {
		t.Fatal(err)
	}
	survivors := []int{0, 1, 3}
	before := minHeight(t, ctx, c, survivors)
	for k := 0; k < 6; k++ {
		via := survivors[k%3]
		post(via, via, fmt.Sprintf("while node %d is down: %d", victim, k))
	}
	if after := minHeight(t, ctx, c, survivors); after <= before {
		t.Fatalf("chain did not advance with a validator down: %d -> %d", before, after)
	}

	// Restart it; it must catch up and agree on every height.
	if err := c.Start(victim); err != nil {
		t.Fatal(err)
	}
	target := minHeight(t, ctx, c, survivors)
	if _, err := c.WaitHeight(ctx, victim, target+1); err != nil {
		t.Fatal(err)
	}
	post(victim, 0, "through the restarted node")
	top := minHeight(t, ctx, c, all) - 1
	requireSameAppHashes(t, ctx, c, all, 1, top)

	// Every committed tx is found, with the same height and code, on every node.
	for _, s := range committed {
		for _, i := range all {
			r, err := cl[i].RPC().Tx(ctx, s.hash, false)
			if err != nil {
				t.Fatalf("node %d lost tx %X: %v", i, s.hash, err)
			}
			if r.Height != s.height || r.TxResult.Code != 0 {
				t.Fatalf("node %d: tx %X at %d code %d, client saw height %d", i, s.hash, r.Height, r.TxResult.Code, s.height)
			}
		}
	}
}

// TestCrashAtEveryFailPoint crashes one validator at each of CometBFT's
// fail points in turn (FAIL_TEST_INDEX: between saving a block, running
// FinalizeBlock, saving its results, Commit and saving state), restarts
// it, and checks it comes back and agrees with the others on every height.
func TestCrashAtEveryFailPoint(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop is long; run without -short")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	c := startLocalnet(t, ctx, 4)
	all := []int{0, 1, 2, 3}
	victim := 3
	op := operatorKey(t, c, 0)
	cl0, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	chainID := c.Manifest.ChainID
	opAddr := pb.AddressOf(op.Public().(ed25519.PublicKey))
	acc, err := cl0.Account(ctx, opAddr)
	if err != nil {
		t.Fatal(err)
	}
	nonce := acc.Sequence
	const failPoints = 10 // consensus/state.go and state/execution.go fail.Fail() calls per height
	for idx := 0; idx < failPoints; idx++ {
		if err := c.Stop(victim); err != nil {
			t.Fatal(err)
		}
		if err := c.StartEnv(victim, fmt.Sprintf("FAIL_TEST_INDEX=%d", idx)); err != nil {
			t.Fatal(err)
		}
		// Keep txs flowing so the crash happens in a block that changes state.
		deadline := time.Now().Add(60 * time.Second)
		for c.Running(victim) && time.Now().Before(deadline) {
			raw, err := tx.Build(op, chainID, opAddr, nonce, memo.TypePost, &pb.PostMemo{Text: fmt.Sprintf("fail point %d", idx)})
			if err != nil {
				t.Fatal(err)
			}
			r, err := cl0.BroadcastAndWait(ctx, raw, 30*time.Second)
			if err != nil || r.Code != 0 {
				t.Fatalf("fail point %d: tx: %v %+v", idx, err, r)
			}
			nonce++
		}
		if c.Running(victim) {
			t.Fatalf("fail point %d: node %d did not crash within 60 s", idx, victim)
		}
		logged, _ := os.ReadFile(c.LogPath(victim))
		if !bytes.Contains(logged, []byte(fmt.Sprintf("*** fail-test %d ***", idx))) {
			t.Fatalf("fail point %d: node %d exited, but not at the fail point:\n%s", idx, victim, tail(logged, 2000))
		}
		if err := c.Start(victim); err != nil {
			t.Fatal(err)
		}
		target := minHeight(t, ctx, c, []int{0, 1, 2})
		if _, err := c.WaitHeight(ctx, victim, target+1); err != nil {
			t.Fatalf("fail point %d: %v", idx, err)
		}
		t.Logf("fail point %d: node %d crashed, restarted and caught up past height %d", idx, victim, target)
	}
	top := minHeight(t, ctx, c, all) - 1
	requireSameAppHashes(t, ctx, c, all, 1, top)
}
