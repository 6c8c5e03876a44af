package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/chainrpc"
)

// StateReader reads committed chain state: all the Server needs.
type StateReader interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
}

// Chain is what the Service needs of its node: committed state, the
// node's sync status, the mempool (to publish the gateway) and block
// results (to follow erasures). chainrpc.Chain implements it over
// CometBFT's RPC client; tests use a fake.
type Chain interface {
	StateReader
	// Status reports whether the node is still catching up with the
	// network.
	Status(ctx context.Context) (chainrpc.Status, error)
	// AppHeight returns the latest height the app has committed (the
	// height Query answers at).
	AppHeight(ctx context.Context) (int64, error)
	// Broadcast runs raw through CheckTx and, if it passes, into the
	// mempool (broadcast_tx_sync).
	Broadcast(ctx context.Context, raw []byte) (chainrpc.Broadcast, error)
	// Erasures lists the "record.erased" events of records kept by
	// custodian in the committed blocks from to to (inclusive), in height
	// order. It fails when the node no longer has those blocks' results.
	Erasures(ctx context.Context, custodian string, from, to int64) ([]chainrpc.Erasure, error)
}

var _ Chain = chainrpc.Chain{}

// Query paths the gateway reads.
func accountPath(addr string) string     { return "/account/" + addr }
func accessPath(id uint64) string        { return fmt.Sprintf("/records/access/%d", id) }
func recordPath(id [32]byte) string      { return "/records/record/" + hex.EncodeToString(id[:]) }
func gatewayPath(hospital string) string { return "/records/gateway/" + hospital }

const hospitalsPath = "/hospitals"

// hospitalOf finds the member hospital whose operator is addr.
func hospitalOf(ctx context.Context, c StateReader, addr string) (*pb.Hospital, error) {
	list, err := chainrpc.QueryMessage[pb.HospitalList](ctx, c, hospitalsPath)
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
