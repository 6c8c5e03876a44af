package ingest

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

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

// readRetries is how many times the push phase tries a read (a state
// query, a tx lookup, the status) that failed in transport: a node busy
// with a large block can hold a query past its RPC write timeout and drop
// the connection (EOF), which is no reason to end an import.
const readRetries = 5

// retryingReads is a Chain whose reads are retried after a transport error,
// with a growing pause (1 s, 2 s, 4 s, …); broadcasts are not (send()
// already handles a dropped broadcast by checking what committed).
type retryingReads struct {
	Chain
	pause time.Duration // the first pause
}

func retryRead[T any](ctx context.Context, r retryingReads, f func() (T, error)) (T, error) {
	pause := r.pause
	for try := 1; ; try++ {
		v, err := f()
		if err == nil || try == readRetries || !transient(err) {
			return v, err
		}
		select {
		case <-ctx.Done():
			return v, err
		case <-time.After(pause):
		}
		pause *= 2
	}
}

// transient: err is the connection failing (dropped, refused, reset, timed
// out), not the node refusing nor a malformed address.
func transient(err error) bool {
	var op *net.OpError
	var ne net.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.As(err, &op) ||
		errors.As(err, &ne) && ne.Timeout()
}

func (r retryingReads) Query(ctx context.Context, path string) ([]byte, error) {
	return retryRead(ctx, r, func() ([]byte, error) { return r.Chain.Query(ctx, path) })
}

func (r retryingReads) TxResult(ctx context.Context, hash []byte) (chainrpc.TxResult, bool, error) {
	type res struct {
		r  chainrpc.TxResult
		ok bool
	}
	v, err := retryRead(ctx, r, func() (res, error) {
		t, ok, err := r.Chain.TxResult(ctx, hash)
		return res{t, ok}, err
	})
	return v.r, v.ok, err
}

func (r retryingReads) Status(ctx context.Context) (chainrpc.Status, error) {
	return retryRead(ctx, r, func() (chainrpc.Status, error) { return r.Chain.Status(ctx) })
}
