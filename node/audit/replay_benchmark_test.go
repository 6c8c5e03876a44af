package audit

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/localnet"
)

// benchTxs is how many memo txs the generated chain commits.
const benchTxs = 3000

// BenchmarkReplay measures replay speed (blocks/s, tx/s) on a chain a real
// one-validator localnet generated: benchTxs memos broadcast as fast as
// the mempool takes them, then the node stopped and its home replayed.
// The figures go in docs/BENCHMARKS.md:
//
//	go test -run XXX -bench BenchmarkReplay -benchtime 5x ./node/audit/
func BenchmarkReplay(b *testing.B) {
	b.Run("3000 memos in full blocks", func(b *testing.B) { benchReplay(b, generateChain(b, benchTxs, 0)) })
	b.Run("200 nearly empty blocks", func(b *testing.B) { benchReplay(b, generateChain(b, 0, 200)) })
}

func benchReplay(b *testing.B, home string) {
	src, err := OpenHome(home)
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	var rep *ReplayReport
	var blocks, txs int64
	for b.Loop() {
		rep, err = Replay(context.Background(), src, Options{TempDir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		blocks += rep.Heights
		txs += rep.Txs
	}
	s := b.Elapsed().Seconds()
	b.ReportMetric(float64(blocks)/s, "blocks/s")
	b.ReportMetric(float64(txs)/s, "tx/s")
	b.ReportMetric(float64(rep.Heights), "blocks/chain")
	b.ReportMetric(float64(rep.Txs), "txs/chain")
}

// generateChain runs a one-validator localnet, has it commit n memos,
// waits for height minHeight and stops it; it returns the node's home.
func generateChain(b *testing.B, n int, minHeight int64) string {
	b.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	m, err := localnet.Generate(localnet.Options{Dir: filepath.Join(b.TempDir(), "net"), Validators: 1, ChainID: "medchain-bench"})
	if err != nil {
		b.Fatal(err)
	}
	c := localnet.NewCluster(testenv.MedchainBinary(b), m)
	defer c.StopAll()
	if err := c.StartAll(); err != nil {
		b.Fatal(err)
	}
	if err := c.WaitKeyCeremony(ctx); err != nil {
		b.Fatal(err)
	}
	kr, err := keyring.Open(node.KeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		b.Fatal(err)
	}
	op, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		b.Fatal(err)
	}
	addr := pb.AddressOf(op.Public().(ed25519.PublicKey))
	cl, err := c.Client(0)
	if err != nil {
		b.Fatal(err)
	}
	acc, err := cl.Account(ctx, addr)
	if err != nil {
		b.Fatal(err)
	}
	for i := 0; i < n; i++ {
		raw, err := tx.Build(op, m.ChainID, addr, acc.Sequence+uint64(i), memo.TypePost, &pb.PostMemo{Text: fmt.Sprintf("bench memo %d", i)})
		if err != nil {
			b.Fatal(err)
		}
		res, err := cl.RPC().BroadcastTxSync(ctx, raw)
		if err != nil || res.Code != 0 {
			b.Fatalf("memo %d: %v %+v", i, err, res)
		}
	}
	// Wait until the signer's nonce says every memo committed.
	for {
		q, err := cl.Account(ctx, addr)
		if err != nil {
			b.Fatal(err)
		}
		if q.Sequence >= acc.Sequence+uint64(n) {
			break
		}
		select {
		case <-ctx.Done():
			b.Fatalf("%d of %d memos committed", q.Sequence-acc.Sequence, n)
		case <-time.After(200 * time.Millisecond):
		}
	}
	if _, err := c.WaitHeight(ctx, 0, minHeight); err != nil {
		b.Fatal(err)
	}
	if err := c.StopAll(); err != nil {
		b.Fatal(err)
	}
	return m.Nodes[0].Home
}
