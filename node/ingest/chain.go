package ingest

import (
	"context"

	"github.com/medchain/medchain/node/chainrpc"
)

// Chain is what the push phase needs of a node: committed state, the
// mempool and the tx index. chainrpc.Chain implements it over CometBFT's
// RPC; tests drive an in-process app through it.
type Chain interface {
	// Query returns the value at path in the latest committed state, nil
	// when there is none. A refused query is an error.
	Query(ctx context.Context, path string) ([]byte, error)
	// Broadcast runs raw through CheckTx and, if it passes, into the mempool.
	// A tx the mempool already holds is Code 0 with InCache set.
	Broadcast(ctx context.Context, raw []byte) (chainrpc.Broadcast, error)
	// TxResult looks up a committed tx by hash; ok is false while it is not
	// in a committed block.
	TxResult(ctx context.Context, hash []byte) (res chainrpc.TxResult, ok bool, err error)
	// Status returns the chain id and the latest committed height.
	Status(ctx context.Context) (chainrpc.Status, error)
}

var _ Chain = chainrpc.Chain{}

// Query paths the push phase reads.
func patientPath(pseudonym string) string        { return "/records/patient/" + pseudonym }
func patientRecordsPath(pseudonym string) string { return "/records/patient/" + pseudonym + "/records" }
func accountPath(addr string) string             { return "/account/" + addr }

const hospitalsPath = "/hospitals"
