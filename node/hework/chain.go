package hework

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/medchain/medchain/node/chainrpc"
)

// Chain is what the worker needs of its node: committed state, the mempool
// and the tx index. chainrpc.Chain implements it over CometBFT's RPC client
// (the in-process one in `medchain start`); tests use a simulated chain.
type Chain interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
	// Broadcast runs raw through CheckTx and, if it passes, into the mempool
	// (broadcast_tx_sync). A tx the mempool already holds is Code 0 with
	// InCache set.
	Broadcast(ctx context.Context, raw []byte) (chainrpc.Broadcast, error)
	// TxResult looks up a committed tx by hash; ok is false while it is not
	// in a committed block.
	TxResult(ctx context.Context, hash []byte) (res chainrpc.TxResult, ok bool, err error)
	// Height is the latest committed height.
	Height(ctx context.Context) (int64, error)
}

var _ Chain = chainrpc.Chain{}

// Query paths of the hekeys contract and the app.
func epochPath(epoch uint64) string { return fmt.Sprintf("/he/epoch/%d", epoch) }
func keySharePath(epoch, dealer uint64) string {
	return fmt.Sprintf("/he/keyshare/%d/%d", epoch, dealer)
}
func commitPath(epoch, dealer uint64) string {
	return fmt.Sprintf("/he/commit/%d/%d", epoch, dealer)
}
func blobPath(hash []byte) string    { return "/blob/" + hex.EncodeToString(hash) }
func requestPath(id uint64) string   { return fmt.Sprintf("/he/request/%d", id) }
func accountPath(addr string) string { return "/account/" + addr }

const (
	pendingPath   = "/he/pending"
	hospitalsPath = "/hospitals"
)

// shortHash is how logs name a blob or tx: its first 8 bytes in hex.
func shortHash(b []byte) string { return hex.EncodeToString(b[:min(len(b), 8)]) }

func blobHash(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

// blob reads a content-addressed blob and checks its hash.
func queryBlob(ctx context.Context, c Chain, hash []byte) ([]byte, error) {
	if len(hash) != sha256.Size {
		return nil, fmt.Errorf("blob hash is %d bytes, want %d", len(hash), sha256.Size)
	}
	raw, err := c.Query(ctx, blobPath(hash))
	if err != nil {
		return nil, err
	}
	if raw == nil {
		return nil, fmt.Errorf("blob %s is not on chain", shortHash(hash))
	}
	if !bytes.Equal(blobHash(raw), hash) {
		return nil, fmt.Errorf("blob %s: the node returned bytes with another hash", shortHash(hash))
	}
	return raw, nil
}
