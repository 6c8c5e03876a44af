package hework

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	cmttypes "github.com/cometbft/cometbft/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
)

// Chain is what the worker needs of its node: committed state, the mempool
// and the tx index. RPCChain implements it over CometBFT's RPC client (the
// in-process one in `medchain start`); tests use a simulated chain.
type Chain interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
	// Broadcast runs raw through CheckTx and, if it passes, into the mempool
	// (broadcast_tx_sync). A tx the mempool already holds is Code 0 with
	// InCache set.
	Broadcast(ctx context.Context, raw []byte) (Broadcast, error)
	// TxResult looks up a committed tx by hash; ok is false while it is not
	// in a committed block.
	TxResult(ctx context.Context, hash []byte) (res TxResult, ok bool, err error)
	// Height is the latest committed height.
	Height(ctx context.Context) (int64, error)
}

// Broadcast is CheckTx's answer to a tx.
type Broadcast struct {
	Code    uint32
	Log     string
	Hash    []byte
	InCache bool
}

// TxResult is the outcome of a committed tx.
type TxResult struct {
	Height int64
	Code   uint32
	Log    string
}

// RPCChain is a Chain over a CometBFT RPC client.
type RPCChain struct{ C rpcclient.Client }

var _ Chain = RPCChain{}

// Query implements Chain.
func (r RPCChain) Query(ctx context.Context, path string) ([]byte, error) {
	res, err := r.C.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{})
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", path, err)
	}
	if res.Response.Code != 0 {
		return nil, fmt.Errorf("query %s refused: code %d: %s", path, res.Response.Code, res.Response.Log)
	}
	if len(res.Response.Value) == 0 {
		return nil, nil
	}
	return res.Response.Value, nil
}

// Broadcast implements Chain.
func (r RPCChain) Broadcast(ctx context.Context, raw []byte) (Broadcast, error) {
	res, err := r.C.BroadcastTxSync(ctx, raw)
	if err != nil {
		// The mempool's "tx already exists in cache": this very tx is
		// pending or was committed. The error type does not cross the
		// HTTP client, so match the message.
		if strings.Contains(err.Error(), "tx already exists in cache") {
			return Broadcast{Hash: tx.Hash(raw), InCache: true}, nil
		}
		return Broadcast{}, fmt.Errorf("broadcast: %w", err)
	}
	return Broadcast{Code: res.Code, Log: res.Log, Hash: res.Hash}, nil
}

// TxResult implements Chain.
func (r RPCChain) TxResult(ctx context.Context, hash []byte) (TxResult, bool, error) {
	res, err := r.C.Tx(ctx, hash, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return TxResult{}, false, nil
		}
		return TxResult{}, false, fmt.Errorf("tx %X: %w", hash, err)
	}
	return TxResult{Height: res.Height, Code: res.TxResult.Code, Log: res.TxResult.Log}, true, nil
}

// Height implements Chain.
func (r RPCChain) Height(ctx context.Context) (int64, error) {
	st, err := r.C.Status(ctx)
	if err != nil {
		return 0, fmt.Errorf("status: %w", err)
	}
	return st.SyncInfo.LatestBlockHeight, nil
}

// WatchBlocks subscribes to the node's new block headers and returns a
// channel that receives a value after each new block. It never blocks the
// node's event bus: while the worker is busy, blocks coalesce into one
// wake-up. The subscription ends when ctx is done or the node stops;
// Unsubscribe(subscriber) ends it early.
func WatchBlocks(ctx context.Context, c rpcclient.EventsClient, subscriber string) (<-chan struct{}, error) {
	events, err := c.Subscribe(ctx, subscriber, cmttypes.EventQueryNewBlockHeader.String(), 1)
	if err != nil {
		return nil, fmt.Errorf("subscribe to new blocks: %w", err)
	}
	wake := make(chan struct{}, 1)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-events:
				if !ok {
					return
				}
				select {
				case wake <- struct{}{}:
				default:
				}
			}
		}
	}()
	return wake, nil
}

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

// queryMessage reads the record at path into a new M; nil when absent.
func queryMessage[M any, PM interface {
	*M
	proto.Message
}](ctx context.Context, c Chain, path string) (*M, error) {
	raw, err := c.Query(ctx, path)
	if err != nil || raw == nil {
		return nil, err
	}
	m := new(M)
	if err := tx.Unmarshal(raw, PM(m)); err != nil {
		return nil, fmt.Errorf("%s: the node answered an undecodable record: %w", path, err)
	}
	return m, nil
}

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
