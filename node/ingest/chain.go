package ingest

import (
	"context"
	"fmt"
	"strings"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
)

// Chain is what the push phase needs of a node: committed state, the
// mempool and the tx index. RPCChain implements it over CometBFT's RPC;
// tests drive an in-process app through it.
type Chain interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
	// Broadcast runs raw through CheckTx and, if it passes, into the mempool.
	// A tx the mempool already holds is Code 0 with InCache set.
	Broadcast(ctx context.Context, raw []byte) (Broadcast, error)
	// TxResult looks up a committed tx by hash; ok is false while it is not
	// in a committed block.
	TxResult(ctx context.Context, hash []byte) (res TxResult, ok bool, err error)
	// Status returns the chain id and the latest committed height.
	Status(ctx context.Context) (chainID string, height int64, err error)
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

// RPCChain is a Chain over a CometBFT RPC client (node/client's RPC()).
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
		// The mempool's "tx already exists in cache": this very tx is pending
		// or committed. The error type does not cross the HTTP client.
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

// Status implements Chain.
func (r RPCChain) Status(ctx context.Context) (string, int64, error) {
	st, err := r.C.Status(ctx)
	if err != nil {
		return "", 0, fmt.Errorf("node status: %w (is the node running, and is --node right?)", err)
	}
	return st.NodeInfo.Network, st.SyncInfo.LatestBlockHeight, nil
}

// Query paths the push phase reads.
func patientPath(pseudonym string) string        { return "/records/patient/" + pseudonym }
func patientRecordsPath(pseudonym string) string { return "/records/patient/" + pseudonym + "/records" }
func accountPath(addr string) string             { return "/account/" + addr }

const hospitalsPath = "/hospitals"

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
		return nil, fmt.Errorf("%s: the node answered an undecodable value: %w", path, err)
	}
	return m, nil
}
