package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
	"github.com/cosmos/gogoproto/proto"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/localnet"
)

// chainCopy is a stopped 4-validator localnet that committed memos: the
// home of validator 1, to be copied by each test case, and its heights.
type chainCopy struct {
	home     string
	last     int64 // the block store's last height
	txHeight int64 // a height whose block holds at least two txs
	txCount  int
}

// TestReplayOfARealChain runs a real 4-validator localnet that commits
// memos, replays it over RPC while it runs, then stops it and replays
// copies of a validator's home: honest, and tampered in each way an
// auditor must catch.
func TestReplayOfARealChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator localnet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, localnet.Options{ChainID: "medchain-audit"})
	postMemos(t, ctx, c, 6)

	t.Run("an honest chain replays over RPC while the node runs", func(t *testing.T) {
		src, err := DialRPC(c.Manifest.Nodes[0].RPC)
		if err != nil {
			t.Fatal(err)
		}
		var progress bytes.Buffer
		rep, err := Replay(ctx, src, Options{Progress: &progress, ProgressBlocks: 5})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if rep.Failure != nil || rep.Heights != rep.To-rep.From+1 || rep.Txs < 24 {
			t.Fatalf("report %+v", rep)
		}
		if !strings.HasPrefix(rep.LastCheckedBy, "header ") && !strings.Contains(rep.LastCheckedBy, "abci_info") {
			t.Fatalf("the last height was checked by %q", rep.LastCheckedBy)
		}
		if !strings.Contains(progress.String(), "blocks/s") {
			t.Fatalf("no progress lines: %q", progress.String())
		}
	})
	t.Run("a running node's home is refused with the reason", func(t *testing.T) {
		_, err := OpenHome(c.Manifest.Nodes[0].Home)
		if err == nil || !strings.Contains(err.Error(), "a node is running") {
			t.Fatalf("got %v, want an error saying a node is running", err)
		}
	})

	if err := c.StopAll(); err != nil {
		t.Fatal(err)
	}
	cc := survey(t, c.Manifest.Nodes[1].Home)

	t.Run("an honest home replays to its last height and agrees with its state", func(t *testing.T) {
		rep, err := replayHome(t, copyHome(t, cc.home), Options{})
		if err != nil {
			t.Fatalf("replay: %v", err)
		}
		if rep.To != cc.last || rep.Heights != cc.last || !strings.Contains(rep.LastCheckedBy, "home's state") {
			t.Fatalf("report %+v, want %d heights checked up to the home's state", rep, cc.last)
		}
	})

	k, j := cc.txHeight, cc.txCount-1
	tampered := []struct {
		name   string
		tamper func(t *testing.T, home string)
		opts   Options
		kind   FailureKind
		height int64
		tx     int
		says   string
	}{
		{
			name:   "a tx edited in a stored block is named with its block",
			tamper: func(t *testing.T, home string) { rewriteBlock(t, home, k, func(b *types.Block) { flipTx(b, j) }) },
			kind:   TamperedBlock, height: k, tx: j, says: "data hash does not match its txs",
		},
		{
			name: "a tx edited with its data hash recomputed breaks the hash chain at its block",
			tamper: func(t *testing.T, home string) {
				rewriteBlock(t, home, k, func(b *types.Block) { flipTx(b, j); b.DataHash = b.Txs.Hash() })
			},
			kind: TamperedBlock, height: k, tx: -1, says: "is not the one block " + strconv.FormatInt(k+1, 10) + " names",
		},
		{
			name:   "a replay whose execution departs from the chain's is named at that height",
			tamper: func(*testing.T, string) {},
			opts: Options{beforeFinalize: func(h int64, st *store.Store) error {
				if h == k {
					return st.Set([]byte("nondeterminism"), []byte("by the test"))
				}
				return nil
			}},
			kind: AppHashMismatch, height: k, tx: -1, says: "header commits",
		},
		{
			name: "a block part deleted from the store is a truncated store at that height",
			tamper: func(t *testing.T, home string) {
				editStore(t, home, func(db dbm.DB) error { return db.Delete(partKey(k, 0)) })
			},
			kind: Unreadable, height: k, tx: -1, says: "missing",
		},
		{
			name: "a garbled block meta is a corrupt store at that height",
			tamper: func(t *testing.T, home string) {
				editStore(t, home, func(db dbm.DB) error { return db.Set([]byte("H:"+strconv.FormatInt(k, 10)), []byte{0xff, 0xff, 0x01}) })
			},
			kind: Unreadable, height: k, tx: -1, says: "does not decode",
		},
		{
			name: "a garbled block part is caught by its proof",
			tamper: func(t *testing.T, home string) {
				editStore(t, home, func(db dbm.DB) error {
					bz, err := db.Get(partKey(k, 0))
					if err != nil {
						return err
					}
					var p cmtproto.Part
					if err := proto.Unmarshal(bz, &p); err != nil {
						return err
					}
					p.Bytes[len(p.Bytes)/2] ^= 1
					bz, err = proto.Marshal(&p)
					if err != nil {
						return err
					}
					return db.Set(partKey(k, 0), bz)
				})
			},
			kind: Unreadable, height: k, tx: -1, says: "part set hash",
		},
		{
			name:   "the home's state rewritten at its last height disagrees with the replay",
			tamper: func(t *testing.T, home string) { rewriteState(t, home, cc.last) },
			kind:   StateDisagrees, height: cc.last, tx: -1, says: "disagrees with the replay",
		},
		{
			name: "a key written into the home's state past its blocks is caught",
			tamper: func(t *testing.T, home string) {
				st, err := store.Open(store.Options{Dir: filepath.Join(home, "data", "medchain-state")})
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				if err := st.Set([]byte("tampered"), []byte("by the test")); err != nil {
					t.Fatal(err)
				}
				if _, err := st.Commit(cc.last + 1); err != nil {
					t.Fatal(err)
				}
			},
			kind: StateDisagrees, height: cc.last + 1, tx: -1, says: "above its block store's last block",
		},
	}
	for _, tc := range tampered {
		t.Run(tc.name, func(t *testing.T) {
			home := copyHome(t, cc.home)
			tc.tamper(t, home)
			rep, err := replayHome(t, home, tc.opts)
			var f *Failure
			if !errors.As(err, &f) {
				t.Fatalf("replay returned %v (report %+v), want a failure", err, rep)
			}
			if rep == nil || rep.Failure != f {
				t.Fatalf("the report does not carry the failure: %+v", rep)
			}
			if f.Kind != tc.kind || f.Height != tc.height || f.Tx != tc.tx || !strings.Contains(f.Reason, tc.says) {
				t.Fatalf("failure %+v (%v), want kind %s at height %d tx %d saying %q", f, f, tc.kind, tc.height, tc.tx, tc.says)
			}
			if f.Kind != StateDisagrees && rep.Heights != f.Height-1 {
				t.Fatalf("%d heights passed before the failure at %d", rep.Heights, f.Height)
			}
		})
	}

	t.Run("a block store whose files are cut short gives an error, never a panic", func(t *testing.T) {
		home := copyHome(t, cc.home)
		dir := filepath.Join(home, "data", "blockstore.db")
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		cut := 0
		for _, e := range ents {
			if strings.HasSuffix(e.Name(), ".ldb") || strings.HasSuffix(e.Name(), ".log") {
				p := filepath.Join(dir, e.Name())
				st, err := os.Stat(p)
				if err != nil {
					t.Fatal(err)
				}
				if err := os.Truncate(p, st.Size()/2); err != nil {
					t.Fatal(err)
				}
				cut++
			}
		}
		if cut == 0 {
			t.Fatal("the block store has no table or journal file to cut")
		}
		rep, err := replayHome(t, home, Options{})
		if err == nil {
			t.Fatalf("replay of a cut block store passed: %+v", rep)
		}
		var f *Failure
		switch {
		case errors.As(err, &f):
			if f.Kind != Unreadable && f.Kind != StateDisagrees {
				t.Fatalf("failure %v, want an unreadable height or a state above the blocks", f)
			}
		case errors.Is(err, ErrCorruptStore):
		default:
			t.Fatalf("error %v is neither a failure naming a height nor a corrupt store", err)
		}
		t.Logf("cut block store: %v", err)
	})
}

// startCluster starts a 4-validator localnet of o (its Dir and Validators
// set here) on free ports, waits for its key ceremony, and stops and
// cleans it up when the test ends.
func startCluster(t *testing.T, ctx context.Context, o localnet.Options) *localnet.Cluster {
	t.Helper()
	o.Dir, o.Validators = filepath.Join(t.TempDir(), "net"), 4
	m, err := localnet.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	c := localnet.NewCluster(testenv.MedchainBinary(t), m)
	t.Cleanup(func() {
		if err := c.StopAll(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			for i := range m.Nodes {
				raw, _ := os.ReadFile(c.LogPath(i))
				if len(raw) > 3000 {
					raw = raw[len(raw)-3000:]
				}
				t.Logf("---- node %d log tail ----\n%s", i, raw)
			}
		}
	})
	if err := c.StartAll(); err != nil {
		t.Fatal(err)
	}
	for i := range m.Nodes {
		if _, err := c.WaitHeight(ctx, i, 2); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	return c
}

// postMemos has each hospital's operator post n memos, the four in
// parallel, so that blocks hold several txs.
func postMemos(t *testing.T, ctx context.Context, c *localnet.Cluster, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make([]error, len(c.Manifest.Nodes))
	for i, nd := range c.Manifest.Nodes {
		kr, err := keyring.Open(node.KeyringDir(nd.Home), keyring.BackendTest, nil)
		if err != nil {
			t.Fatal(err)
		}
		op, err := kr.Signer(node.OperatorKeyName)
		if err != nil {
			t.Fatal(err)
		}
		cl, err := c.Client(i)
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func(i int, op ed25519.PrivateKey) {
			defer wg.Done()
			for k := 0; k < n; k++ {
				r, err := cl.Send(ctx, op, memo.TypePost, &pb.PostMemo{Text: fmt.Sprintf("audit memo %d from hospital %d", k, i)}, 30*time.Second)
				if err == nil && r.Code != 0 {
					err = fmt.Errorf("code %d: %s", r.Code, r.Log)
				}
				if err != nil {
					errs[i] = fmt.Errorf("hospital %d memo %d: %w", i, k, err)
					return
				}
			}
		}(i, op)
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		t.Fatal(err)
	}
}

// survey finds the stopped home's last height and a block with several
// txs (the one with the most).
func survey(t *testing.T, home string) chainCopy {
	t.Helper()
	h, err := OpenHome(home)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	cc := chainCopy{home: home}
	_, cc.last, err = h.Heights(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for k := int64(1); k < cc.last-1; k++ {
		b, _, err := h.Block(context.Background(), k)
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Txs) > cc.txCount {
			cc.txHeight, cc.txCount = k, len(b.Txs)
		}
	}
	if cc.txCount < 2 {
		t.Fatalf("no block below %d holds two txs", cc.last-1)
	}
	return cc
}

func replayHome(t *testing.T, home string, o Options) (*ReplayReport, error) {
	t.Helper()
	src, err := OpenHome(home)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	o.TempDir = t.TempDir()
	return Replay(context.Background(), src, o)
}

// copyHome copies a stopped node's home into a fresh temporary folder.
func copyHome(t *testing.T, home string) string {
	t.Helper()
	dst := filepath.Join(t.TempDir(), "home")
	if out, err := exec.Command("cp", "-a", home, dst).CombinedOutput(); err != nil {
		t.Fatalf("cp: %v %s", err, out)
	}
	return dst
}

func partKey(h int64, i int) []byte {
	return []byte("P:" + strconv.FormatInt(h, 10) + ":" + strconv.Itoa(i))
}

// editStore opens the home's block store with CometBFT's own backend,
// writable, and applies edit.
func editStore(t *testing.T, home string, edit func(dbm.DB) error) {
	t.Helper()
	db, err := dbm.NewGoLevelDB("blockstore", filepath.Join(home, "data"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := edit(db); err != nil {
		t.Fatal(err)
	}
}

// rewriteBlock rewrites block h of the home's block store the way an
// attacker with the files would: decoded, changed, re-cut into parts with
// their proofs, and its meta updated to match.
func rewriteBlock(t *testing.T, home string, h int64, change func(*types.Block)) {
	t.Helper()
	editStore(t, home, func(db dbm.DB) error {
		metaBz, err := db.Get([]byte("H:" + strconv.FormatInt(h, 10)))
		if err != nil {
			return err
		}
		b, _, err := assembleBlock(h, metaBz, func(i int) ([]byte, error) { return db.Get(partKey(h, i)) })
		if err != nil {
			return err
		}
		var pbm cmtproto.BlockMeta
		if err := proto.Unmarshal(metaBz, &pbm); err != nil {
			return err
		}
		change(b)
		// A round trip drops the hash the block cached when it was read.
		pb, err := b.ToProto()
		if err != nil {
			return err
		}
		if b, err = types.BlockFromProto(pb); b == nil {
			return err
		}
		ps, err := b.MakePartSet(types.BlockPartSizeBytes)
		if err != nil {
			return err
		}
		for i := 0; i < int(ps.Total()); i++ {
			pp, err := ps.GetPart(i).ToProto()
			if err != nil {
				return err
			}
			bz, err := proto.Marshal(pp)
			if err != nil {
				return err
			}
			if err := db.Set(partKey(h, i), bz); err != nil {
				return err
			}
		}
		meta := types.NewBlockMeta(b, ps)
		mbz, err := proto.Marshal(meta.ToProto())
		if err != nil {
			return err
		}
		return db.Set([]byte("H:"+strconv.FormatInt(h, 10)), mbz)
	})
}

func flipTx(b *types.Block, j int) {
	tx := bytes.Clone(b.Txs[j])
	tx[len(tx)-1] ^= 0x01
	b.Txs[j] = tx
}

// rewriteState replaces the home's app state by one built by replaying the
// home's own blocks with one extra key written at height last: consistent
// on disk (its commit point matches its tree), but not the chain's state.
func rewriteState(t *testing.T, home string, last int64) {
	t.Helper()
	built := filepath.Join(t.TempDir(), "tampered-state")
	src, err := OpenHome(home)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Replay(context.Background(), src, Options{TempDir: t.TempDir(), stateDir: built,
		afterFinalize: func(h int64, st *store.Store) error {
			if h == last {
				return st.Set([]byte("tampered"), []byte("by the test"))
			}
			return nil
		}})
	src.Close()
	if err != nil {
		// The replay's own app hash (FinalizeBlock's) is honest: only the
		// committed state carries the extra key.
		t.Fatalf("building the tampered state: %v", err)
	}
	dir := filepath.Join(home, "data", "medchain-state")
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(built, dir); err != nil {
		t.Fatal(err)
	}
}
