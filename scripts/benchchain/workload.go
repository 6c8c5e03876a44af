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
	node  int
	med   [][]byte // memo.post txs with nonces 0, 1, 2, …
	kv    [][]byte // "bench-<lane>-<k>=<hex>" of exactly len(med[k]) bytes
	split int      // med[:split] is the throughput phase, med[split:] the latency phase
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
		w.lanes[a].split = share(cfg.txs, a)
		n := w.lanes[a].split + share(cfg.pacedTxs, a)
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

// txs returns lane a's txs for app in phase (throughput or latency).
func (w *workload) txs(app string, a int, paced bool) [][]byte {
	l := w.lanes[a]
	all := l.med
	if app == appKVStore {
		all = l.kv
	}
	if paced {
		return all[l.split:]
	}
	return all[:l.split]
}
