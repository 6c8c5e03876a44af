package store

import (
	"bytes"
	"sync"

	corestore "cosmossdk.io/core/store"
)

// Iterator walks keys in [start, end) in the order asked for. Key and Value
// return copies, and nil once the iterator is invalid; Next on an invalid
// iterator does nothing. Always Close it. An Iterator is not safe for
// concurrent use.
type Iterator interface {
	Valid() bool
	Next()
	Key() []byte
	Value() []byte
	Error() error
	Close() error
}

// treeIterator wraps an IAVL iterator: it copies what it returns, stops with
// an error when guard says the state under it went away, and optionally
// holds lock shared during each call (committed-state iterators).
type treeIterator struct {
	inner   corestore.Iterator
	guard   func() error  // nil error = still valid
	lock    *sync.RWMutex // nil for working-state iterators
	release func()        // called once by Close; may be nil
	err     error
	closed  bool
}

var _ Iterator = (*treeIterator)(nil)

func (it *treeIterator) enter() func() {
	if it.lock == nil {
		return func() {}
	}
	it.lock.RLock()
	return it.lock.RUnlock
}

// valid reports validity; the caller holds the lock.
func (it *treeIterator) valid() bool {
	if it.closed || it.err != nil {
		return false
	}
	if err := it.guard(); err != nil {
		it.err = err
		return false
	}
	return it.inner.Valid()
}

// Valid reports whether the iterator is at a key.
func (it *treeIterator) Valid() bool {
	defer it.enter()()
	return it.valid()
}

// Next moves to the next key.
func (it *treeIterator) Next() {
	defer it.enter()()
	if it.valid() {
		it.inner.Next()
	}
}

// Key returns a copy of the current key.
func (it *treeIterator) Key() []byte {
	defer it.enter()()
	if !it.valid() {
		return nil
	}
	return bytes.Clone(it.inner.Key())
}

// Value returns a copy of the current value.
func (it *treeIterator) Value() []byte {
	defer it.enter()()
	if !it.valid() {
		return nil
	}
	return bytes.Clone(it.inner.Value())
}

// Error returns why the iterator stopped early, if it did.
func (it *treeIterator) Error() error {
	if it.err != nil {
		return it.err
	}
	if it.closed {
		return nil
	}
	defer it.enter()()
	return it.inner.Error()
}

// Close releases the iterator; it is idempotent.
func (it *treeIterator) Close() error {
	if it.closed {
		return nil
	}
	it.closed = true
	err := func() error {
		defer it.enter()()
		return it.inner.Close()
	}()
	if it.release != nil {
		it.release()
	}
	return err
}
