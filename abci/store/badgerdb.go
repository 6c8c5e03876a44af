package store

import (
	"bytes"
	"errors"
	"fmt"

	corestore "cosmossdk.io/core/store"
	iavldb "github.com/cosmos/iavl/db"
	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// Badger tuning for a small box shared by several nodes (the test net runs
// four nodes on 2 cores / 24 GiB): one node's Badger stays around 100 MiB.
const (
	// memTableSize bounds one memtable; Badger caps a transaction at 15% of
	// it (about 4.8 MiB here), which badgerBatch handles by splitting.
	memTableSize = 32 << 20
	numMemtables = 2
	// valueThreshold: values at least this big go to the value log, so a
	// block of large blobs only puts 12-byte pointers in the LSM tree and in
	// the transaction size budget.
	valueThreshold   = 4 << 10
	blockCacheSize   = 32 << 20
	indexCacheSize   = 16 << 20
	valueLogFileSize = 128 << 20
	numCompactors    = 2 // Badger's minimum
)

var (
	errBatchClosed = errors.New("badger batch: already written or closed")
	errNilValue    = errors.New("badger: nil value")
)

// badgerDB adapts Badger to IAVL's db.DB. It is safe for concurrent use;
// every write is synced (SyncWrites), every returned slice is a copy.
type badgerDB struct {
	db *badger.DB
}

var _ iavldb.DB = (*badgerDB)(nil)

// badgerOptions returns the options openBadger uses for dir.
func badgerOptions(dir string, lg Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithSyncWrites(true).
		WithLogger(badgerLogger{lg}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		// No block compression: IAVL nodes are hashes and short values
		// that compress little, and on a large tree (a million keys and
		// more) decompressing a block on every node fetch cost a quarter
		// of a commit (BenchmarkCommit1000SetsLargeTree: 316 -> 227 ms).
		// Tables written compressed by an older node stay readable: Badger
		// records each table's compression in its manifest.
		WithCompression(options.None).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(numCompactors).
		WithNumGoroutines(2).
		WithMetricsEnabled(false).
		// Every writer is serialised by IAVL or Commit and never reads in
		// its transaction, so conflict tracking would only cost memory.
		WithDetectConflicts(false)
}

// openBadger opens (creating if needed) the Badger database in dir.
func openBadger(dir string, lg Logger) (*badgerDB, error) {
	db, err := badger.Open(badgerOptions(dir, lg))
	if err != nil {
		return nil, fmt.Errorf("open badger in %s: %w", dir, err)
	}
	return &badgerDB{db: db}, nil
}

func checkKey(key []byte) error {
	if len(key) == 0 {
		return ErrEmptyKey
	}
	return nil
}

// checkBounds rejects empty non-nil bounds: nil means unbounded, and an empty
// slice is almost always a bug in the caller's range arithmetic.
func checkBounds(start, end []byte) error {
	if start != nil && len(start) == 0 {
		return fmt.Errorf("%w: range start is empty (use nil for unbounded)", ErrEmptyKey)
	}
	if end != nil && len(end) == 0 {
		return fmt.Errorf("%w: range end is empty (use nil for unbounded)", ErrEmptyKey)
	}
	return nil
}

// valueCopy copies an item's value; an existing empty value is returned as a
// non-nil empty slice, because IAVL tells "empty root" from "no root" by
// nil-ness (Badger's ValueCopy(nil) would return nil for both).
func valueCopy(item *badger.Item) ([]byte, error) {
	v, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	if v == nil {
		v = []byte{}
	}
	return v, nil
}

// Get returns a copy of key's value, or nil if key is absent.
func (d *badgerDB) Get(key []byte) ([]byte, error) {
	if err := checkKey(key); err != nil {
		return nil, err
	}
	var out []byte
	err := d.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		out, err = valueCopy(item)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("badger get: %w", err)
	}
	return out, nil
}

// Has reports whether key is present.
func (d *badgerDB) Has(key []byte) (bool, error) {
	if err := checkKey(key); err != nil {
		return false, err
	}
	found := false
	err := d.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("badger has: %w", err)
	}
	return found, nil
}

// set writes one key in its own synced transaction (used for the meta
// record, the store's commit point).
func (d *badgerDB) set(key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		return errNilValue
	}
	if err := d.db.Update(func(txn *badger.Txn) error { return txn.Set(key, value) }); err != nil {
		return fmt.Errorf("badger set: %w", err)
	}
	return nil
}

// Iterator returns an ascending iterator over [start, end); nil bounds are
// open.
func (d *badgerDB) Iterator(start, end []byte) (corestore.Iterator, error) {
	if err := checkBounds(start, end); err != nil {
		return nil, err
	}
	return newBadgerIterator(d.db, start, end, false), nil
}

// ReverseIterator returns a descending iterator over [start, end); nil
// bounds are open.
func (d *badgerDB) ReverseIterator(start, end []byte) (corestore.Iterator, error) {
	if err := checkBounds(start, end); err != nil {
		return nil, err
	}
	return newBadgerIterator(d.db, start, end, true), nil
}

// Close closes Badger. IAVL never calls it; Store.Close does.
func (d *badgerDB) Close() error {
	if err := d.db.Close(); err != nil {
		return fmt.Errorf("close badger: %w", err)
	}
	return nil
}

// NewBatch returns an empty batch.
func (d *badgerDB) NewBatch() corestore.Batch { return &badgerBatch{db: d.db} }

// NewBatchWithSize returns an empty batch; size is IAVL's flush threshold in
// bytes and only sizes the first allocation.
func (d *badgerDB) NewBatchWithSize(size int) corestore.Batch {
	const avgOp = 256
	n := min(max(size/avgOp, 0), 4096)
	return &badgerBatch{db: d.db, ops: make([]batchOp, 0, n)}
}

// badgerIterator iterates one Badger read transaction (a consistent
// snapshot). Not safe for concurrent use.
type badgerIterator struct {
	txn        *badger.Txn
	it         *badger.Iterator
	start, end []byte
	reverse    bool
	err        error
	closed     bool
}

var _ corestore.Iterator = (*badgerIterator)(nil)

func newBadgerIterator(db *badger.DB, start, end []byte, reverse bool) *badgerIterator {
	txn := db.NewTransaction(false)
	opts := badger.DefaultIteratorOptions
	opts.PrefetchValues = false // IAVL mostly scans keys; values are read on demand
	opts.Reverse = reverse
	it := txn.NewIterator(opts)
	bi := &badgerIterator{
		txn:     txn,
		it:      it,
		start:   bytes.Clone(start),
		end:     bytes.Clone(end),
		reverse: reverse,
	}
	switch {
	case !reverse && start == nil:
		it.Rewind()
	case !reverse:
		it.Seek(start)
	case end == nil:
		it.Rewind() // in reverse mode: the last key
	default:
		// Reverse Seek lands on the largest key <= end; end is exclusive.
		it.Seek(end)
		if it.Valid() && bytes.Equal(it.Item().Key(), end) {
			it.Next()
		}
	}
	return bi
}

// Domain returns the iterator's bounds.
func (bi *badgerIterator) Domain() ([]byte, []byte) { return bi.start, bi.end }

// Valid reports whether the iterator is at a key inside its domain.
func (bi *badgerIterator) Valid() bool {
	if bi.closed || bi.err != nil || !bi.it.Valid() {
		return false
	}
	key := bi.it.Item().Key()
	if bi.reverse {
		return bi.start == nil || bytes.Compare(key, bi.start) >= 0
	}
	return bi.end == nil || bytes.Compare(key, bi.end) < 0
}

// Next moves to the next key; it does nothing on an invalid iterator.
func (bi *badgerIterator) Next() {
	if bi.Valid() {
		bi.it.Next()
	}
}

// Key returns a copy of the current key, or nil if the iterator is invalid.
func (bi *badgerIterator) Key() []byte {
	if !bi.Valid() {
		return nil
	}
	return bi.it.Item().KeyCopy(nil)
}

// Value returns a copy of the current value, or nil if the iterator is
// invalid or the value could not be read (see Error).
func (bi *badgerIterator) Value() []byte {
	if !bi.Valid() {
		return nil
	}
	v, err := valueCopy(bi.it.Item())
	if err != nil {
		bi.err = fmt.Errorf("badger iterator value: %w", err)
		return nil
	}
	return v
}

// Error returns the error that stopped the iterator, if any.
func (bi *badgerIterator) Error() error { return bi.err }

// Close releases the iterator and its read transaction; it is idempotent.
func (bi *badgerIterator) Close() error {
	if bi.closed {
		return nil
	}
	bi.closed = true
	bi.it.Close()
	bi.txn.Discard()
	return nil
}

type batchOp struct {
	key, value []byte
	del        bool
}

// batchOpOverhead approximates Badger's per-entry cost in GetByteSize.
const batchOpOverhead = 16

// badgerBatch collects writes and applies them in order on Write. IAVL uses
// one batch from one goroutine at a time (BatchWithFlusher locks around it).
type badgerBatch struct {
	db     *badger.DB
	ops    []batchOp
	size   int
	closed bool
}

var _ corestore.Batch = (*badgerBatch)(nil)

// Set queues a write of a copy of key and value.
func (b *badgerBatch) Set(key, value []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		return errNilValue
	}
	if b.closed {
		return errBatchClosed
	}
	b.ops = append(b.ops, batchOp{key: bytes.Clone(key), value: append([]byte{}, value...)})
	b.size += len(key) + len(value) + batchOpOverhead
	return nil
}

// Delete queues a deletion of key.
func (b *badgerBatch) Delete(key []byte) error {
	if err := checkKey(key); err != nil {
		return err
	}
	if b.closed {
		return errBatchClosed
	}
	b.ops = append(b.ops, batchOp{key: bytes.Clone(key), del: true})
	b.size += len(key) + batchOpOverhead
	return nil
}

// Write applies the queued writes, in order, and closes the batch. They go
// in one Badger transaction when they fit; otherwise the batch is split at
// ErrTxnTooBig into consecutive transactions, so a crash may apply a prefix
// of the batch. The store never relies on a batch being atomic (see doc.go).
func (b *badgerBatch) Write() error {
	if b.closed {
		return errBatchClosed
	}
	err := b.apply()
	b.closed, b.ops = true, nil
	return err
}

// WriteSync is Write: every Badger commit is synced (SyncWrites).
func (b *badgerBatch) WriteSync() error { return b.Write() }

// Close discards the batch; it is idempotent and harmless after Write.
func (b *badgerBatch) Close() error {
	b.closed, b.ops = true, nil
	return nil
}

// GetByteSize returns the approximate size of the queued writes.
func (b *badgerBatch) GetByteSize() (int, error) {
	if b.closed {
		return 0, errBatchClosed
	}
	return b.size, nil
}

func (b *badgerBatch) apply() error {
	if len(b.ops) == 0 {
		return nil
	}
	txn := b.db.NewTransaction(true)
	defer func() { txn.Discard() }() // no-op after Commit
	put := func(op batchOp) error {
		if op.del {
			return txn.Delete(op.key)
		}
		return txn.Set(op.key, op.value)
	}
	for i, op := range b.ops {
		err := put(op)
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("badger batch commit (op %d of %d): %w", i, len(b.ops), err)
			}
			txn = b.db.NewTransaction(true)
			err = put(op) // a fresh txn refusing one op means the op alone is too big
		}
		if err != nil {
			return fmt.Errorf("badger batch op %d of %d (key %d bytes): %w", i, len(b.ops), len(op.key), err)
		}
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("badger batch commit: %w", err)
	}
	return nil
}
