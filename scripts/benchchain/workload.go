package main

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
)

// lane is one account's ordered stream of txs: all of them go to the same
// node, in order, so the medchain mempools never see a nonce gap. The
// kvstore run uses the same lanes (same node, same order, same sizes).
type lane struct {
	node int
	med  [][]byte // memo.post txs with nonces 0, 1, 2, …
	kv   [][]byte // "bench-<lane>-<k>=<hex>" of exactly len(med[k]) bytes
	// bounds[p]:bounds[p+1] are the txs of phase p.
	bounds []int
}

// phaseSpec is one timed phase: a throughput phase (rate 0: as fast as the
// submitters go) or a latency phase at a steady rate.
type phaseSpec struct {
	name string
	txs  int
	rate float64
}

func (p phaseSpec) paced() bool { return p.rate > 0 }

// mempoolNeed is the most txs a phase may have waiting at once, plus room.
func (c *config) mempoolNeed() int {
	n := 0
	for _, p := range c.phases() {
		if !p.paced() && c.maxPending > 0 {
			n = max(n, min(p.txs, c.maxPending))
		} else {
			n = max(n, p.txs)
		}
	}
	return n + 1000
}

// phases lists the timed phases of every app run, in order.
func (c *config) phases() []phaseSpec {
	var out []phaseSpec
	if c.txs > 0 {
		out = append(out, phaseSpec{name: "throughput", txs: c.txs})
	}
	for _, r := range c.rates {
		out = append(out, phaseSpec{name: fmt.Sprintf("latency@%g", r), txs: max(1, int(r*c.pacedSeconds.Seconds()+0.5)), rate: r})
	}
	return out
}

// workload is everything the timed phases send, built before any node runs,
// so signing is never in the timed loop.
type workload struct {
	chainID string
	keys    []ed25519.PrivateKey
	addrs   []string
	lanes   []lane

	signTime   time.Duration // building and signing every medchain tx, one core
	medBytes   int           // sum of medchain tx sizes
	kvBytes    int
	minTxBytes int
	maxTxBytes int
}

// accountKey is account a's key: deterministic, so runs are comparable.
func accountKey(a int) ed25519.PrivateKey {
	seed := sha256.Sum256(fmt.Appendf(nil, "medchain-bench/account/%d", a))
	return ed25519.NewKeyFromSeed(seed[:])
}

const memoAlphabet = "abcdefghijklmnopqrstuvwxyz0123456789 "

func buildWorkload(cfg *config) (*workload, error) {
	w := &workload{chainID: cfg.chainID}
	rng := rand.New(rand.NewPCG(uint64(cfg.seed), 0x6d656463))
	for a := 0; a < cfg.accounts; a++ {
		k := accountKey(a)
		w.keys = append(w.keys, k)
		w.addrs = append(w.addrs, pb.AddressOf(k.Public().(ed25519.PublicKey)))
		w.lanes = append(w.lanes, lane{node: a % cfg.validators})
	}
	// Spread each phase's txs over the accounts: the first ones get one
	// more when they do not divide evenly.
	share := func(total, a int) int {
		n := total / cfg.accounts
		if a < total%cfg.accounts {
			n++
		}
		return n
	}
	text := make([]byte, cfg.memoBytes)
	start := time.Now()
	for a := range w.lanes {
		n := 0
		w.lanes[a].bounds = []int{0}
		for _, ph := range cfg.phases() {
			n += share(ph.txs, a)
			w.lanes[a].bounds = append(w.lanes[a].bounds, n)
		}
		for k := 0; k < n; k++ {
			for i := range text {
				text[i] = memoAlphabet[rng.IntN(len(memoAlphabet))]
			}
			raw, err := tx.Build(w.keys[a], w.chainID, w.addrs[a], uint64(k), memo.TypePost, &pb.PostMemo{Text: string(text)})
			if err != nil {
				return nil, fmt.Errorf("build tx %d of account %d: %w", k, a, err)
			}
			w.lanes[a].med = append(w.lanes[a].med, raw)
		}
	}
	w.signTime = time.Since(start)

	seen := map[[32]byte]bool{}
	for a := range w.lanes {
		for k, raw := range w.lanes[a].med {
			kv := kvTx(rng, a, k, len(raw))
			w.lanes[a].kv = append(w.lanes[a].kv, kv)
			w.medBytes += len(raw)
			w.kvBytes += len(kv)
			if w.minTxBytes == 0 || len(raw) < w.minTxBytes {
				w.minTxBytes = len(raw)
			}
			w.maxTxBytes = max(w.maxTxBytes, len(raw))
			for _, t := range [][]byte{raw, kv} {
				h := sha256.Sum256(t)
				if seen[h] {
					return nil, fmt.Errorf("duplicate tx in the workload (lane %d, tx %d)", a, k)
				}
				seen[h] = true
			}
		}
	}
	return w, nil
}

// kvTx is a kvstore tx "bench-<a>-<k>=<hex>" padded to exactly size bytes
// (hex has neither '=' nor ':', which kvstore's CheckTx requires).
func kvTx(rng *rand.Rand, a, k, size int) []byte {
	out := fmt.Appendf(nil, "bench-%d-%d=", a, k)
	var b [8]byte
	for len(out) < size {
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		out = hex.AppendEncode(out, b[:])
	}
	if len(out) > size && size > 0 {
		// Never cut into the key: a value of at least one byte remains
		// unless the medchain tx is absurdly small.
		cut := max(size, len(fmt.Sprintf("bench-%d-%d=", a, k))+1)
		out = out[:cut]
	}
	return out
}

func (w *workload) total() int {
	n := 0
	for _, l := range w.lanes {
		n += len(l.med)
	}
	return n
}

// txs returns lane a's txs for app in phase p.
func (w *workload) txs(app string, a, p int) [][]byte {
	l := w.lanes[a]
	all := l.med
	if app == appKVStore {
		all = l.kv
	}
	return all[l.bounds[p]:l.bounds[p+1]]
}
