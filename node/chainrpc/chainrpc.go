package chainrpc

import (
	"context"
	"fmt"
	"strings"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	cmttypes "github.com/cometbft/cometbft/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/records"
)

// Chain reads and writes a chain through a CometBFT RPC client: the
// in-process one of `medchain start` (rpc/client/local) or the HTTP one of
// node/client's RPC(). Its zero value is unusable; set C.
type Chain struct{ C rpcclient.Client }

// Broadcast is CheckTx's answer to a tx. InCache: the mempool already holds
// this very tx (pending or just committed); then Code is 0.
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

// Status is what the node reports of itself.
type Status struct {
	ChainID    string
	Height     int64 // the latest block in the node's block store
	CatchingUp bool  // still syncing with the network
}

// Erasure is one record erased on chain.
type Erasure struct {
	RecordID string // 64 lowercase hex digits
	Height   int64
}

// Query returns the value at path in the latest committed state, nil when
// there is none. A refused query is an error.
func (c Chain) Query(ctx context.Context, path string) ([]byte, error) {
	res, err := c.C.ABCIQueryWithOptions(ctx, path, nil, rpcclient.ABCIQueryOptions{})
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

// Broadcast runs raw through CheckTx and, if it passes, into the mempool
// (broadcast_tx_sync). A tx the mempool already holds is Code 0 with
// InCache set.
func (c Chain) Broadcast(ctx context.Context, raw []byte) (Broadcast, error) {
	res, err := c.C.BroadcastTxSync(ctx, raw)
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

// TxResult looks up a committed tx by hash in the tx index; ok is false
// while it is not in a committed block (or not indexed yet).
func (c Chain) TxResult(ctx context.Context, hash []byte) (res TxResult, ok bool, err error) {
	r, err := c.C.Tx(ctx, hash, false)
	if err != nil {
		if strings.Contains(err.Error(), "not found") {
			return TxResult{}, false, nil
		}
		return TxResult{}, false, fmt.Errorf("tx %X: %w", hash, err)
	}
	return TxResult{Height: r.Height, Code: r.TxResult.Code, Log: r.TxResult.Log}, true, nil
}

// Status returns the node's chain id, latest block height and sync status.
func (c Chain) Status(ctx context.Context) (Status, error) {
	st, err := c.C.Status(ctx)
	if err != nil {
		return Status{}, fmt.Errorf("node status: %w (is the node running, and is its RPC address right?)", err)
	}
	return Status{ChainID: st.NodeInfo.Network, Height: st.SyncInfo.LatestBlockHeight, CatchingUp: st.SyncInfo.CatchingUp}, nil
}

// Height is the latest committed block height (Status's Height).
func (c Chain) Height(ctx context.Context) (int64, error) {
	st, err := c.Status(ctx)
	return st.Height, err
}

// AppHeight is the latest height the app has committed (abci_info), the
// height Query answers at; it may be a block behind Height.
func (c Chain) AppHeight(ctx context.Context) (int64, error) {
	info, err := c.C.ABCIInfo(ctx)
	if err != nil {
		return 0, fmt.Errorf("abci info: %w", err)
	}
	return info.Response.LastBlockHeight, nil
}

// Erasures lists the "record.erased" events of records kept by custodian
// in the committed blocks from to to (inclusive), in height order. It reads
// the results of each block, which CometBFT saves before the app commits
// the block (unlike the tx index, which is written asynchronously and may
// lag), and fails when the node no longer has them.
func (c Chain) Erasures(ctx context.Context, custodian string, from, to int64) ([]Erasure, error) {
	var out []Erasure
	for h := from; h <= to; h++ {
		height := h
		res, err := c.C.BlockResults(ctx, &height)
		if err != nil {
			return nil, fmt.Errorf("results of block %d (storage.discard_abci_responses must be false to follow erasures): %w", h, err)
		}
		for _, t := range res.TxsResults {
			if t.Code != 0 {
				continue
			}
			for _, ev := range t.Events {
				if ev.Type != records.EventErased {
					continue
				}
				var id, cust string
				for _, a := range ev.Attributes {
					switch a.Key {
					case "record":
						id = a.Value
					case "custodian":
						cust = a.Value
					}
				}
				if cust == custodian && id != "" {
					out = append(out, Erasure{RecordID: id, Height: h})
				}
			}
		}
	}
	return out, nil
}

// Querier reads committed state: what QueryMessage needs.
type Querier interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
}

// QueryMessage reads the protobuf message at path into a new M; nil when
// there is none.
func QueryMessage[M any, PM interface {
	*M
	proto.Message
}](ctx context.Context, q Querier, path string) (*M, error) {
	raw, err := q.Query(ctx, path)
	if err != nil || raw == nil {
		return nil, err
	}
	m := new(M)
	if err := tx.Unmarshal(raw, PM(m)); err != nil {
		return nil, fmt.Errorf("%s: the node answered an undecodable value: %w", path, err)
	}
	return m, nil
}

// WatchBlocks subscribes to the node's new block headers and returns a
// channel that receives a value after each new block. It never blocks the
// node's event bus: while the consumer is busy, blocks coalesce into one
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
