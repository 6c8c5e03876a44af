package contracts

import (
	"bytes"
	"errors"
	"slices"
)

// Cache buffers one tx's writes over a parent store. Write applies them to
// the parent in sorted key order (so the result never depends on map order);
// dropping the Cache discards them. Not safe for concurrent use.
type Cache struct {
	parent KVStore
	writes map[string][]byte // nil value = delete
}

var _ KVStore = (*Cache)(nil)

// NewCache returns an empty Cache over parent.
func NewCache(parent KVStore) *Cache {
	return &Cache{parent: parent, writes: map[string][]byte{}}
}

var (
	errEmptyKey   = errors.New("empty state key")
	errEmptyValue = errors.New("empty state value (ICS23 cannot prove it); store a record with at least one set field")
)

// Get reads through the buffered writes to the parent. It returns a copy:
// changing it never changes a buffered write.
func (c *Cache) Get(key []byte) ([]byte, error) {
	if v, ok := c.writes[string(key)]; ok {
		return bytes.Clone(v), nil // nil (deleted) stays nil
	}
	return c.parent.Get(key)
}

// Set buffers a write.
func (c *Cache) Set(key, value []byte) error {
	if len(key) == 0 {
		return errEmptyKey
	}
	if len(value) == 0 {
		return errEmptyValue
	}
	c.writes[string(key)] = bytes.Clone(value)
	return nil
}

// Delete buffers a deletion.
func (c *Cache) Delete(key []byte) error {
	if len(key) == 0 {
		return errEmptyKey
	}
	c.writes[string(key)] = nil
	return nil
}

func (c *Cache) sortedKeys() []string {
	keys := make([]string, 0, len(c.writes))
	for k := range c.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// Write applies the buffered writes to the parent in key order and empties
// the Cache.
func (c *Cache) Write() error {
	for _, k := range c.sortedKeys() {
		v := c.writes[k]
		var err error
		if v == nil {
			err = c.parent.Delete([]byte(k))
		} else {
			err = c.parent.Set([]byte(k), v)
		}
		if err != nil {
			return err
		}
	}
	clear(c.writes)
	return nil
}

// Iterator merges the parent's range with the buffered writes. It reads the
// parent's range eagerly; contracts iterate over small, prefixed ranges.
func (c *Cache) Iterator(start, end []byte, ascending bool) (Iterator, error) {
	it, err := c.parent.Iterator(start, end, true)
	if err != nil {
		return nil, err
	}
	merged := map[string][]byte{}
	for ; it.Valid(); it.Next() {
		merged[string(it.Key())] = bytes.Clone(it.Value())
	}
	if err := it.Error(); err != nil {
		it.Close()
		return nil, err
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	for k, v := range c.writes {
		if (start != nil && k < string(start)) || (end != nil && k >= string(end)) {
			continue
		}
		if v == nil {
			delete(merged, k)
		} else {
			merged[k] = v
		}
	}
	keys := make([]string, 0, len(merged))
	for k := range merged {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if !ascending {
		slices.Reverse(keys)
	}
	return &sliceIterator{keys: keys, values: merged}, nil
}

type sliceIterator struct {
	keys   []string
	values map[string][]byte
	i      int
}

func (s *sliceIterator) Valid() bool   { return s.i < len(s.keys) }
func (s *sliceIterator) Next()         { s.i++ }
func (s *sliceIterator) Key() []byte   { return []byte(s.keys[s.i]) }
func (s *sliceIterator) Value() []byte { return bytes.Clone(s.values[s.keys[s.i]]) }
func (s *sliceIterator) Error() error  { return nil }
func (s *sliceIterator) Close() error  { return nil }
