package store

import (
	"bytes"
	"fmt"

	"github.com/cosmos/iavl"
	ics23 "github.com/cosmos/ics23/go"
)

// versionAt resolves height (0 = latest) and returns its immutable tree.
// The caller holds s.mu shared.
func (s *Store) versionAt(height int64) (*iavl.ImmutableTree, int64, error) {
	if s.closed.Load() {
		return nil, 0, ErrClosed
	}
	switch {
	case height < 0:
		return nil, 0, fmt.Errorf("%w: %d", ErrInvalidHeight, height)
	case height == 0 && s.lastHeight == 0:
		return s.empty, 0, nil // nothing committed yet: the empty state
	case height == 0:
		height = s.lastHeight
	case height > s.lastHeight:
		return nil, 0, fmt.Errorf("%w: height %d, last committed %d", ErrHeightNotCommitted, height, s.lastHeight)
	case height < s.earliest:
		return nil, 0, fmt.Errorf("%w: height %d, oldest kept %d", ErrHeightPruned, height, s.earliest)
	}
	t, err := s.reader.GetImmutable(height)
	if err != nil {
		return nil, 0, fmt.Errorf("store: load height %d: %w", height, err)
	}
	return t, height, nil
}

// GetAt returns a copy of key's value at committed height (0 = latest), nil
// if absent. Before the first commit, height 0 is the empty state. CheckTx
// and Query call it, concurrently with block execution.
func (s *Store) GetAt(height int64, key []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, h, err := s.versionAt(height)
	if err != nil {
		return nil, err
	}
	v, err := t.Get(key)
	if err != nil {
		return nil, fmt.Errorf("store: get at %d: %w", h, err)
	}
	return bytes.Clone(v), nil
}

// ProveAt returns key's value at committed height (0 = latest) with an ICS23
// proof against that height's app hash: an existence proof if the key is
// present, a non-existence proof (value nil) if not. The proof is checked
// before it is returned; it cannot be built for an empty state
// (ErrEmptyState) nor when the key or a neighbour holds an empty value
// (ErrUnprovable). Query calls it for prove=true.
func (s *Store) ProveAt(height int64, key []byte) (value []byte, proof *ics23.CommitmentProof, err error) {
	if err := checkKey(key); err != nil {
		return nil, nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, h, err := s.versionAt(height)
	if err != nil {
		return nil, nil, err
	}
	if t.Size() == 0 {
		return nil, nil, fmt.Errorf("%w: height %d", ErrEmptyState, h)
	}
	v, err := t.Get(key)
	if err != nil {
		return nil, nil, fmt.Errorf("store: get at %d: %w", h, err)
	}
	proof, err = t.GetProof(key)
	if err != nil {
		return nil, nil, fmt.Errorf("store: prove at %d: %w", h, err)
	}
	root := t.Hash()
	if v != nil {
		err = VerifyMembership(root, proof, key, v)
	} else {
		err = VerifyNonMembership(root, proof, key)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("%w: height %d: %v", ErrUnprovable, h, err)
	}
	return bytes.Clone(v), proof, nil
}

// IteratorAt ranges over committed height (0 = latest) in [start, end)
// (nil = open). The height is not pruned while the iterator is open, so
// close it promptly. Query and CheckTx call it.
func (s *Store) IteratorAt(height int64, start, end []byte, ascending bool) (Iterator, error) {
	if err := checkBounds(start, end); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	t, h, err := s.versionAt(height)
	if err != nil {
		return nil, err
	}
	inner, err := t.Iterator(bytes.Clone(start), bytes.Clone(end), ascending)
	if err != nil {
		return nil, fmt.Errorf("store: iterator at %d: %w", h, err)
	}
	it := &treeIterator{
		inner: inner,
		lock:  &s.mu,
		guard: func() error {
			if s.closed.Load() {
				return ErrClosed
			}
			return nil
		},
	}
	if h == 0 {
		return it, nil // the empty state before the first commit: nothing to pin
	}
	s.readersMu.Lock()
	s.readers[h]++
	s.readersMu.Unlock()
	it.release = func() {
		s.readersMu.Lock()
		defer s.readersMu.Unlock()
		if s.readers[h]--; s.readers[h] <= 0 {
			delete(s.readers, h)
		}
	}
	return it, nil
}
