package localnet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
)

// latestSnapshot returns the newest height home holds a complete snapshot
// of (the node renames a snapshot's folder into place when it is done).
func latestSnapshot(home string) int64 {
	entries, _ := os.ReadDir(node.SnapshotDir(home))
	var best int64
	for _, e := range entries {
		h, err := strconv.ParseInt(e.Name(), 10, 64)
		if err != nil {
			continue
		}
		if _, err := os.Stat(filepath.Join(node.SnapshotDir(home), e.Name(), "metadata")); err == nil && h > best {
			best = h
		}
	}
	return best
}

// TestANewNodeJoinsByStateSync: four validators that take a snapshot
// every 20 heights commit some txs; a fifth, non-validator node with the
// same genesis joins by state sync, trusting a header a member's RPC
// gave, catches up, and answers proven queries with the validators' app
// hashes. Its block store starts at a snapshot, not at genesis.
func TestANewNodeJoinsByStateSync(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m, err := Generate(Options{Dir: filepath.Join(t.TempDir(), "net"), Validators: 4, ChainID: "medchain-statesync"})
	if err != nil {
		t.Fatal(err)
	}
	c := NewCluster(medchainBinary(t), m)
	stopAtCleanup(t, c, func(i int, log []byte) string {
		if i != 4 {
			return "(a validator)"
		}
		return "state sync lines:\n" + syncLines(log)
	})
	validators := []int{0, 1, 2, 3}
	for _, i := range validators {
		// Blocks come every ~150 ms here: keep snapshots long enough for
		// the new node's discovery (5 s) and fetch.
		if err := c.StartEnv(i, "MEDCHAIN_STATE_SNAPSHOT_INTERVAL=20", "MEDCHAIN_STATE_SNAPSHOT_KEEP_RECENT=6"); err != nil {
			t.Fatal(err)
		}
	}
	for _, i := range validators {
		if _, err := c.WaitHeight(ctx, i, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}

	cl0, err := c.Client(0)
	if err != nil {
		t.Fatal(err)
	}
	op0 := operatorKey(t, c, 0)
	for i := range 3 {
		r, err := cl0.Send(ctx, op0, memo.TypePost, &pb.PostMemo{Text: fmt.Sprintf("before the new node, %d", i)}, 30*time.Second)
		if err != nil || r.Code != 0 {
			t.Fatalf("memo %d: %v %+v", i, err, r)
		}
	}
	// A snapshot taken after those txs, held by every validator.
	st, err := cl0.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	after := st.SyncInfo.LatestBlockHeight
	var snap int64
	for {
		snap = latestSnapshot(m.Nodes[0].Home)
		ready := snap >= after
		for _, i := range validators[1:] {
			ready = ready && latestSnapshot(m.Nodes[i].Home) >= snap
		}
		if ready {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no snapshot at or after height %d on every validator (node0 has %d)", after, snap)
		case <-time.After(200 * time.Millisecond):
		}
	}

	// The operator of the new node trusts a header a member gave it.
	cm, err := cl0.RPC().Commit(ctx, &snap)
	if err != nil {
		t.Fatal(err)
	}
	joiner, err := AddFullNode(c.Manifest, "newmember")
	if err != nil {
		t.Fatal(err)
	}
	err = EnableStateSync(joiner.Home, StateSync{
		RPCServers:  []string{m.Nodes[0].RPC, m.Nodes[1].RPC},
		TrustHeight: snap, TrustHash: cm.Commit.BlockID.Hash.String(),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(joiner.Index); err != nil {
		t.Fatal(err)
	}
	// A post after it started: it must catch up past the snapshot by
	// executing blocks, memo included.
	r, err := cl0.Send(ctx, op0, memo.TypePost, &pb.PostMemo{Text: "while the new node syncs"}, 30*time.Second)
	if err != nil || r.Code != 0 {
		t.Fatalf("memo: %v %+v", err, r)
	}
	if _, err := c.WaitHeight(ctx, joiner.Index, r.Height+2); err != nil {
		t.Fatal(err)
	}

	cl4, err := c.Client(joiner.Index)
	if err != nil {
		t.Fatal(err)
	}
	st4, err := cl4.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// It restores the newest snapshot its peers offer: snap or a later one.
	restored := st4.SyncInfo.EarliestBlockHeight - 1
	if restored < snap || restored%20 != 0 {
		t.Fatalf("the new node's first block is %d: it did not restore a snapshot (every 20 heights, from %d on)",
			st4.SyncInfo.EarliestBlockHeight, snap)
	}
	log, _ := os.ReadFile(c.LogPath(joiner.Index))
	if !bytes.Contains(log, []byte("snapshot restored")) {
		t.Fatal("the new node's log does not say it restored a snapshot")
	}
	// Same app hashes as the validators from the snapshot on, and a
	// proven answer equal to a validator's.
	requireSameAppHashes(t, ctx, c, []int{0, joiner.Index}, restored, r.Height)
	// At a height both still keep (state is pruned to the newest versions;
	// on a slow machine the memo's height may be gone by now).
	path := "/account/" + pb.AddressOf(op0.Public().(ed25519.PublicKey))
	at := r.Height
	for _, cl := range []*client.Client{cl0, cl4} {
		st, err := cl.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if at < st.SyncInfo.LatestBlockHeight-1 {
			at = st.SyncInfo.LatestBlockHeight - 1
		}
	}
	if _, err := c.WaitHeight(ctx, joiner.Index, at+1); err != nil {
		t.Fatal(err)
	}
	q4, err := cl4.Query(ctx, path, at, true)
	if err != nil {
		t.Fatal(err)
	}
	q0, err := cl0.Query(ctx, path, at, true)
	if err != nil {
		t.Fatal(err)
	}
	if !q4.Verified || q4.Value == nil || !bytes.Equal(q4.Value, q0.Value) || !bytes.Equal(q4.AppHash, q0.AppHash) {
		t.Fatalf("query %s at %d: new node %X (verified %v, app hash %X), node 0 %X (app hash %X)",
			path, at, q4.Value, q4.Verified, q4.AppHash, q0.Value, q0.AppHash)
	}
}

// syncLines keeps the log lines about state sync and errors.
func syncLines(raw []byte) string {
	var out []string
	for _, l := range strings.Split(string(raw), "\n") {
		if strings.Contains(l, "statesync") || strings.Contains(l, "napshot") || strings.HasPrefix(l, "E[") || strings.Contains(l, "light") {
			out = append(out, l)
		}
	}
	return tail([]byte(strings.Join(out, "\n")), 6000)
}
