package contracts

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
)

// memStore is an in-memory KVStore for tests: a map read in sorted key
// order. It records every write, so tests can check what reached it and in
// which order, and can be told to fail.
type memStore struct {
	data map[string][]byte
	// ops lists the writes in the order received: "set k=v" or "del k".
	ops []string
	// failOn makes Set or Delete of this key fail.
	failOn string
	// iterErr is returned by the Error of every iterator.
	iterErr error
}

var _ KVStore = (*memStore)(nil)

var errInjected = errors.New("injected store failure")

// newMemStore returns a store holding kv, given as key, value, key, value...
func newMemStore(kv ...string) *memStore {
	m := &memStore{data: map[string][]byte{}}
	for i := 0; i+1 < len(kv); i += 2 {
		m.data[kv[i]] = []byte(kv[i+1])
	}
	return m
}

func (m *memStore) Get(key []byte) ([]byte, error) {
	v, ok := m.data[string(key)]
	if !ok {
		return nil, nil
	}
	return bytes.Clone(v), nil
}

func (m *memStore) Set(key, value []byte) error {
	if string(key) == m.failOn {
		return errInjected
	}
	m.ops = append(m.ops, fmt.Sprintf("set %s=%s", key, value))
	m.data[string(key)] = bytes.Clone(value)
	return nil
}

func (m *memStore) Delete(key []byte) error {
	if string(key) == m.failOn {
		return errInjected
	}
	m.ops = append(m.ops, fmt.Sprintf("del %s", key))
	delete(m.data, string(key))
	return nil
}

func (m *memStore) Iterator(start, end []byte, ascending bool) (Iterator, error) {
	var keys []string
	for k := range m.data {
		if (start == nil || k >= string(start)) && (end == nil || k < string(end)) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	if !ascending {
		slices.Reverse(keys)
	}
	vals := make(map[string][]byte, len(keys))
	for _, k := range keys {
		vals[k] = bytes.Clone(m.data[k])
	}
	return &memIterator{keys: keys, vals: vals, err: m.iterErr}, nil
}

type memIterator struct {
	keys []string
	vals map[string][]byte
	err  error
}

func (it *memIterator) Valid() bool   { return it.err == nil && len(it.keys) > 0 }
func (it *memIterator) Next()         { it.keys = it.keys[1:] }
func (it *memIterator) Key() []byte   { return []byte(it.keys[0]) }
func (it *memIterator) Value() []byte { return it.vals[it.keys[0]] }
func (it *memIterator) Error() error  { return it.err }
func (it *memIterator) Close() error  { return nil }

// collect drains it into "k=v" strings.
func collect(it Iterator) ([]string, error) {
	defer it.Close()
	var out []string
	for ; it.Valid(); it.Next() {
		out = append(out, fmt.Sprintf("%s=%s", it.Key(), it.Value()))
	}
	return out, it.Error()
}
