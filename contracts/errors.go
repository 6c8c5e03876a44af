package contracts

import (
	"errors"
	"fmt"
)

// Sentinel errors returned by contracts. Wrap them with context (%w); the
// ABCI code table (abci/codes.go) gives each a stable numeric code.
var (
	// ErrUnknownTxType: no contract handles the tx's type.
	ErrUnknownTxType = errors.New("unknown tx type")
	// ErrInvalidPayload: the payload does not decode or breaks a stateless rule.
	ErrInvalidPayload = errors.New("invalid payload")
	// ErrUnauthorized: the signer's role may not send this tx (deny by default).
	ErrUnauthorized = errors.New("unauthorized")
	// ErrNotFound: the tx refers to something that does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: the tx would create something that already exists.
	ErrExists = errors.New("already exists")
	// ErrGenesis: the genesis app state is invalid.
	ErrGenesis = errors.New("invalid genesis")
	// ErrWrongState: the tx is well formed but not allowed in the current
	// state (a key epoch not ready, a request no longer pending, a deadline
	// passed).
	ErrWrongState = errors.New("not allowed in the current state")
	// ErrDenied: the sharing rules refuse the request (no valid grant,
	// expired, revoked up the chain, not the grantee, out of scope, wrong
	// purpose, record erased, break-glass without the emergency role or a
	// reason). It wraps ErrUnauthorized, so a node whose code table has no
	// row for it yet still answers "unauthorized" and never halts; the
	// table must list it before ErrUnauthorized to give it its own code.
	ErrDenied = fmt.Errorf("%w: denied by the alliance's rules", ErrUnauthorized)
)
