package audit

import (
	"context"
	"errors"

	"github.com/cometbft/cometbft/types"
)

// Source is a copy of a chain an auditor replays: its genesis and its blocks
// by height. Home (a stopped node's block store, read-only) and RPC (a
// node's RPC) implement it. A Source is used by one Replay at a time.
type Source interface {
	// Genesis returns the chain's genesis document.
	Genesis(ctx context.Context) (*types.GenesisDoc, error)
	// Heights returns the lowest and highest height whose block the source
	// holds (0, 0 if none).
	Heights(ctx context.Context) (base, last int64, err error)
	// Block returns the block at height h and its block id. A block that is
	// missing, does not decode or does not match its stored id is an
	// *UnreadableError naming h.
	Block(ctx context.Context, h int64) (*types.Block, types.BlockID, error)
	// Close releases what the source holds open.
	Close() error
}

// StateWitness is implemented by a source that also holds the app state a
// node computed: the app hash it committed at its last height. Replay
// compares it with its own, which is the only check the last block's
// execution gets when no later header exists.
type StateWitness interface {
	// AppState returns the height and app hash of the node's last commit;
	// found is false if the source holds no state.
	AppState(ctx context.Context) (height int64, appHash []byte, found bool, err error)
	// Describe names the witness in reports ("the home's state").
	Describe() string
}

// TxLocator is implemented by a source with a tx index: where the chain
// committed the tx with this hash (sha256 of its bytes). Replay uses it only
// to name which tx of a block whose data hash is wrong was altered.
type TxLocator interface {
	TxPosition(ctx context.Context, hash []byte) (height int64, index uint32, found bool, err error)
}

// UnreadableError is a block a source cannot give: missing (a truncated
// store), undecodable or inconsistent with its stored id (a corrupt store).
type UnreadableError struct {
	Height int64
	Reason string
}

func (e *UnreadableError) Error() string {
	return "height " + itoa(e.Height) + ": " + e.Reason
}

// ErrCorruptStore is wrapped by the error of a source whose database
// cannot even be opened because its files are damaged.
var ErrCorruptStore = errors.New("the block store is corrupt")
