package contracts

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

// Iterator walks keys in order. Callers must Close it.
type Iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Error() error
	Close() error
}

// Reader is the read-only view of state.
type Reader interface {
	// Get returns nil, nil when key is absent.
	Get(key []byte) ([]byte, error)
	// Iterator ranges over [start, end); nil bounds are open.
	Iterator(start, end []byte, ascending bool) (Iterator, error)
}

// KVStore is the state a contract may change.
type KVStore interface {
	Reader
	Set(key, value []byte) error
	Delete(key []byte) error
}

// Attr is one key/value of an Event.
type Attr struct {
	Key, Value string
	// Index asks CometBFT's indexer to make the attribute searchable.
	Index bool
}

// Event reports one state change, e.g. "account.registered".
type Event struct {
	Type  string
	Attrs []Attr
}

// Block is what a contract may know about the block it runs in.
type Block struct {
	Height  int64
	Time    time.Time // from the header: the same on every validator
	ChainID string
	// Signers are the addresses of the validators whose votes for the
	// previous block are in this block's last commit, ascending: who was
	// live, as the block itself records it.
	Signers [][]byte
}

// Context is what a handler receives for one tx.
type Context struct {
	Block  Block
	Store  KVStore
	Signer *pb.Account
	Nonce  uint64
	events []Event
	// validators are the validator-set changes the tx asks for.
	validators []ValidatorUpdate
}

// ValidatorUpdate changes the power of one CometBFT validator: a new key
// joins the set, power 0 removes it. CometBFT applies the block's updates
// two heights later.
type ValidatorUpdate struct {
	PubKey []byte // ed25519, 32 bytes
	Power  int64
}

// UpdateValidator asks for a validator-set change; like an event, it
// reaches the block's ValidatorUpdates only if the tx succeeds. A later
// update of the same key in the block wins.
func (c *Context) UpdateValidator(pub []byte, power int64) {
	c.validators = append(c.validators, ValidatorUpdate{PubKey: slices.Clone(pub), Power: power})
}

// ValidatorUpdates returns the validator-set changes asked for so far, in
// the order asked.
func (c *Context) ValidatorUpdates() []ValidatorUpdate { return c.validators }

// NewContext returns a Context over store for a tx signed by signer.
func NewContext(b Block, store KVStore, signer *pb.Account, nonce uint64) *Context {
	return &Context{Block: b, Store: store, Signer: signer, Nonce: nonce}
}

// Emit records an event; it reaches the block results only if the tx succeeds.
func (c *Context) Emit(typ string, attrs ...Attr) {
	c.events = append(c.events, Event{Type: typ, Attrs: attrs})
}

// Events returns the events emitted so far.
func (c *Context) Events() []Event { return c.events }

// NewBlockContext returns a Context for work the chain does by itself at
// the end of a block (deadlines), with no signer.
func NewBlockContext(b Block, store KVStore) *Context {
	return &Context{Block: b, Store: store}
}

// Handler is one tx type's contract.
type Handler struct {
	// Type is the tx type string, "group.action".
	Type string
	// Roles lists exactly who may send it; an empty list lets nobody.
	Roles []pb.Role
	// New returns an empty payload message to decode into.
	New func() proto.Message
	// Validate checks the payload without state (run in CheckTx too).
	Validate func(msg proto.Message) error
	// Check, if set, validates the payload's form against parameters in
	// state (e.g. HE blobs byte by byte). It runs wherever the tx is
	// authenticated — CheckTx, PrepareProposal and FinalizeBlock — so a
	// malformed payload is refused before it reaches a block and, if a
	// proposer includes it anyway, changes nothing. It must not decide on
	// anything but form.
	Check func(r Reader, msg proto.Message) error
	// SimulateInCheckTx makes CheckTx run Exec on a throwaway copy of the
	// committed state and refuse the tx if Exec would. For members'
	// protocol messages (key commitments and shares), whose refusal need
	// not be on the ledger; access requests, whose refusals auditors must
	// see, leave it off. FinalizeBlock decides either way.
	SimulateInCheckTx bool
	// Exec applies the tx. It must be deterministic.
	Exec func(ctx *Context, msg proto.Message) error
}

// Router maps tx types to handlers. It is built once at start-up and is
// read-only afterwards.
type Router struct {
	handlers map[string]Handler
}

// NewRouter registers hs; a duplicate or incomplete handler is a programming
// error and panics at start-up.
func NewRouter(hs ...Handler) *Router {
	r := &Router{handlers: make(map[string]Handler, len(hs))}
	for _, h := range hs {
		if h.Type == "" || h.New == nil || h.Exec == nil {
			panic(fmt.Sprintf("contracts: incomplete handler %q", h.Type)) // broken invariant: wiring bug
		}
		if _, dup := r.handlers[h.Type]; dup {
			panic(fmt.Sprintf("contracts: handler %q registered twice", h.Type)) // broken invariant: wiring bug
		}
		r.handlers[h.Type] = h
	}
	return r
}

// Types lists the registered tx types in sorted order.
func (r *Router) Types() []string {
	out := make([]string, 0, len(r.handlers))
	for t := range r.handlers {
		out = append(out, t)
	}
	slices.Sort(out)
	return out
}

// Prepared is a tx whose payload decoded and passed stateless validation.
type Prepared struct {
	Handler Handler
	Msg     proto.Message
}

// Prepare decodes and statelessly validates a payload of the given type.
func (r *Router) Prepare(txType string, payload []byte) (*Prepared, error) {
	h, ok := r.handlers[txType]
	if !ok {
		return nil, fmt.Errorf("%w: %q (known: %v)", ErrUnknownTxType, txType, r.Types())
	}
	msg := h.New()
	if err := tx.Unmarshal(payload, msg); err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrInvalidPayload, txType, err)
	}
	if h.Validate != nil {
		if err := h.Validate(msg); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrInvalidPayload, txType, err)
		}
	}
	return &Prepared{Handler: h, Msg: msg}, nil
}

// CheckForm runs the handler's state-dependent form check, if it has one.
func (p *Prepared) CheckForm(r Reader) error {
	if p.Handler.Check == nil {
		return nil
	}
	if err := p.Handler.Check(r, p.Msg); err != nil {
		if errors.Is(err, ErrInvalidPayload) || errors.Is(err, ErrWrongState) {
			return err
		}
		return fmt.Errorf("%w: %s: %w", ErrInvalidPayload, p.Handler.Type, err)
	}
	return nil
}

// Authorize reports whether role may send the prepared tx.
func (p *Prepared) Authorize(role pb.Role) error {
	if slices.Contains(p.Handler.Roles, role) {
		return nil
	}
	return fmt.Errorf("%w: %s may not send %s (allowed: %v)", ErrUnauthorized, role, p.Handler.Type, p.Handler.Roles)
}
