package abci

import (
	"errors"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/contracts"
)

// working is the uncommitted state FinalizeBlock changes.
type working struct{ s *store.Store }

var _ contracts.KVStore = working{}

func (w working) Get(key []byte) ([]byte, error) { return w.s.Get(key) }
func (w working) Set(key, value []byte) error    { return w.s.Set(key, value) }
func (w working) Delete(key []byte) error        { return w.s.Delete(key) }
func (w working) Iterator(start, end []byte, asc bool) (contracts.Iterator, error) {
	return w.s.Iterator(start, end, asc)
}

// committed is the last committed state, read by CheckTx and
// PrepareProposal. Before the first commit it is the working state: the
// genesis InitChain wrote, which only block 1 commits (and, between
// FinalizeBlock and Commit of block 1, that block's writes too — harmless,
// as Commit resets the nonce overlay and the mempool rechecks). The app's
// mutex serialises those reads with FinalizeBlock.
type committed struct{ s *store.Store }

var _ contracts.Reader = committed{}

func (c committed) genesis() bool {
	h, _ := c.s.LastCommit()
	return h == 0
}

func (c committed) Get(key []byte) ([]byte, error) {
	if c.genesis() {
		return c.s.Get(key)
	}
	return c.s.GetAt(0, key)
}

func (c committed) Iterator(start, end []byte, asc bool) (contracts.Iterator, error) {
	if c.genesis() {
		return c.s.Iterator(start, end, asc)
	}
	return c.s.IteratorAt(0, start, end, asc)
}

// historical is committed state at a given height, read by Query.
type historical struct {
	s      *store.Store
	height int64
}

func (h historical) Get(key []byte) ([]byte, error) { return h.s.GetAt(h.height, key) }
func (h historical) Iterator(start, end []byte, asc bool) (contracts.Iterator, error) {
	return h.s.IteratorAt(h.height, start, end, asc)
}

// readOnly lets a Cache read committed state; its writes stay in the cache,
// which is never written back (CheckTx simulation).
type readOnly struct{ contracts.Reader }

var errReadOnly = errors.New("simulation over committed state cannot write")

func (readOnly) Set([]byte, []byte) error { return errReadOnly }
func (readOnly) Delete([]byte) error      { return errReadOnly }
