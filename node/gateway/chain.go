package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	rpcclient "github.com/cometbft/cometbft/rpc/client"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// StateReader reads committed chain state: all the Server needs.
type StateReader interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
}

// Chain is what the Service needs of its node: committed state, the
// node's sync status, the mempool (to publish the gateway) and block
// results (to follow erasures). RPCChain implements it over CometBFT's RPC
// client; tests use a fake.
type Chain interface {
	StateReader
	// Status returns the latest height the app has committed (the height
	// Query answers at) and whether the node is still catching up with
	// the network.
	Status(ctx context.Context) (height int64, catchingUp bool, err error)
	// Broadcast runs raw through CheckTx and, if it passes, into the
	// mempool (broadcast_tx_sync).
	Broadcast(ctx context.Context, raw []byte) (Broadcast, error)
	// Erasures lists the "record.erased" events of records kept by
	// custodian in the committed blocks from to to (inclusive), in height
	// order. It fails when the node no longer has those blocks' results.
	Erasures(ctx context.Context, custodian string, from, to int64) ([]Erasure, error)
}

// Broadcast is CheckTx's answer to a tx. InCache: the mempool already
// holds this very tx.
type Broadcast struct {
	Code    uint32
	Log     string
	InCache bool
}

// Erasure is one record erased on chain.
type Erasure struct {
	RecordID string // 64 lowercase hex digits
	Height   int64
}

// RPCChain is a Chain over a CometBFT RPC client (the in-process one in
// `medchain start`).
type RPCChain struct{ C rpcclient.Client }

var _ Chain = RPCChain{}

// Query implements StateReader at the latest committed height.
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

// Status implements Chain: the app's committed height (abci_info), which
// may be a block behind the block store's, and CometBFT's sync status.
func (r RPCChain) Status(ctx context.Context) (int64, bool, error) {
	st, err := r.C.Status(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("status: %w", err)
	}
	info, err := r.C.ABCIInfo(ctx)
	if err != nil {
		return 0, false, fmt.Errorf("abci info: %w", err)
	}
	return info.Response.LastBlockHeight, st.SyncInfo.CatchingUp, nil
}

// Broadcast implements Chain.
func (r RPCChain) Broadcast(ctx context.Context, raw []byte) (Broadcast, error) {
	res, err := r.C.BroadcastTxSync(ctx, raw)
	if err != nil {
		// The error type does not survive the RPC layer: match the message.
		if strings.Contains(err.Error(), "tx already exists in cache") {
			return Broadcast{InCache: true}, nil
		}
		return Broadcast{}, fmt.Errorf("broadcast: %w", err)
	}
	return Broadcast{Code: res.Code, Log: res.Log}, nil
}

// Erasures implements Chain from the results of each block, which
// CometBFT saves before the app commits the block (unlike the tx index,
// which is written asynchronously and may lag).
func (r RPCChain) Erasures(ctx context.Context, custodian string, from, to int64) ([]Erasure, error) {
	var out []Erasure
	for h := from; h <= to; h++ {
		height := h
		res, err := r.C.BlockResults(ctx, &height)
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

// queryMessage reads the record at path into a new M; nil when absent.
func queryMessage[M any, PM interface {
	*M
	proto.Message
}](ctx context.Context, c StateReader, path string) (*M, error) {
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

// Query paths the gateway reads.
func accountPath(addr string) string     { return "/account/" + addr }
func accessPath(id uint64) string        { return fmt.Sprintf("/records/access/%d", id) }
func recordPath(id [32]byte) string      { return "/records/record/" + hex.EncodeToString(id[:]) }
func gatewayPath(hospital string) string { return "/records/gateway/" + hospital }

const hospitalsPath = "/hospitals"

// hospitalOf finds the member hospital whose operator is addr.
func hospitalOf(ctx context.Context, c StateReader, addr string) (*pb.Hospital, error) {
	list, err := queryMessage[pb.HospitalList](ctx, c, hospitalsPath)
	if err != nil {
		return nil, err
	}
	if list != nil {
		for _, h := range list.Hospitals {
			if h.Operator == addr {
				return h, nil
			}
		}
	}
	return nil, errNotAMember
}

var errNotAMember = errors.New("no member hospital on chain has this home's operator key")
