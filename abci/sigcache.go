package abci

import (
	"crypto/ed25519"
	"crypto/sha256"

	"github.com/medchain/medchain/abci/tx"
)

// sigCacheSize bounds the cache: about 100 bytes an entry, so ~10 MB.
const sigCacheSize = 100_000

// sigCache remembers (tx bytes, public key) pairs whose signature verified.
// A hit skips ed25519 verification, the most expensive step of a tx (about
// half of a validator's CPU under load when every path verifies).
//
// It keeps FinalizeBlock deterministic: verification of the same bytes
// under the same key always gives the same answer, so a hit only skips
// recomputing a known "valid"; failures are never cached. Callers hold the
// app's mutex.
type sigCache struct {
	max     int
	entries map[[32]byte]struct{}
}

func newSigCache(max int) *sigCache {
	return &sigCache{max: max, entries: make(map[[32]byte]struct{})}
}

func sigKey(raw []byte, pub ed25519.PublicKey) [32]byte {
	h := sha256.New()
	h.Write(pub)
	h.Write(raw)
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verify checks d's signature under pub, from the cache when it can.
func (c *sigCache) verify(d *tx.Decoded, pub ed25519.PublicKey) error {
	k := sigKey(d.Raw, pub)
	if _, ok := c.entries[k]; ok {
		return nil
	}
	if err := d.Verify(pub); err != nil {
		return err
	}
	if len(c.entries) >= c.max {
		// Entries of txs long committed are useless; starting over costs
		// one verification per tx still in the mempool.
		clear(c.entries)
	}
	c.entries[k] = struct{}{}
	return nil
}

// forget drops the entry of a tx that has been executed: its nonce is
// spent, so it can never be valid again.
func (c *sigCache) forget(raw []byte, pub ed25519.PublicKey) {
	delete(c.entries, sigKey(raw, pub))
}
