package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cosmos/iavl"
	"github.com/dgraph-io/badger/v4"
)

const (
	// DefaultCacheSize is the IAVL node cache size used when
	// Options.CacheSize is 0 (about 20 MiB of nodes).
	DefaultCacheSize = 100_000
	// MaxValueSize bounds one value. State holds records and hashes, not
	// blobs; the bound keeps a value well inside one Badger value-log file.
	MaxValueSize = 16 << 20
	// iavlFlushThreshold is how many bytes IAVL buffers before writing a
	// batch; each write is a synced Badger commit, so fewer is faster.
	iavlFlushThreshold = 4 << 20
)

// gcInterval is how often a pruning store rewrites its Badger value log.
var gcInterval = 10 * time.Minute

// beforeMetaHook, when set by a test, runs between IAVL's save and the meta
// write; an error it returns stands for a failed meta write.
var beforeMetaHook func() error

// Options configure Open.
type Options struct {
	Dir        string // Badger directory (created 0700 if missing)
	KeepRecent int64  // number of recent versions to keep; 0 = archive (keep all)
	CacheSize  int    // IAVL node cache size, per tree (working and queries); 0 = DefaultCacheSize
	Logger     Logger // optional; nil = silent
	// InitialHeight is the first height Commit accepts on an empty store
	// (CometBFT's genesis initial_height); 0 or 1 mean 1. Ignored once the
	// store holds a commit.
	InitialHeight int64
	// Snapshots configure the state-sync snapshots the store takes and
	// serves; the zero value takes none (restoring needs no options).
	Snapshots SnapshotOptions
}

// Store is the state: a working IAVL tree changed by FinalizeBlock and
// committed versions read by queries.
//
// The working-state methods (Get, Set, Delete, Iterator, WorkingHash,
// Commit, Rollback) must be serialised by the caller; the abci package does
// so with its own mutex. LastCommit, GetAt, ProveAt and IteratorAt may be
// called from any goroutine at any time, also while a block executes or
// commits.
type Store struct {
	opts Options // normalised
	log  Logger  // never nil
	db   *badgerDB
	tree *iavl.MutableTree // the working tree; only the serialised caller touches it
	// reader serves the committed views. It is a second IAVL tree over the
	// same Badger with its own node cache, only ever asked for immutable
	// versions: IAVL's working-tree writes touch nodes in their own cache
	// (clone resets a cached node's child pointers), so sharing one cache
	// between block execution and queries would be a data race.
	reader *iavl.MutableTree
	// empty is the state at height 0, before the first commit: what
	// committed views read then (CheckTx runs before block 1 commits).
	empty *iavl.ImmutableTree

	// gen counts working-state changes; a working-state iterator is
	// invalidated when it moves. failed is set when a Commit failed
	// half-way. Both belong to the serialised caller.
	gen    atomic.Uint64
	failed error
	closed atomic.Bool

	// mu guards the committed view: readers hold it shared for each call;
	// Commit holds it exclusively to publish a height and while pruning, so
	// no reader ever runs on a version being deleted.
	mu         sync.RWMutex
	lastHeight int64
	lastHash   []byte
	earliest   int64 // oldest readable height; 0 while nothing is committed

	// readers counts open IteratorAt iterators per height; pruning stops
	// below the oldest one. Changed under mu (shared) plus readersMu.
	readersMu sync.Mutex
	readers   map[int64]int

	gcStop chan struct{}
	gcDone chan struct{}

	// base is the height a restored store started at (0 otherwise): no
	// height below it was ever here. Changed under mu.
	base int64
	// restoring is the snapshot restore in progress, if any; it belongs
	// to the serialised caller.
	restoring *restore
	// snapRunning is set while a background snapshot is written;
	// snapStop (closed by Close) stops it; snapWG waits for it.
	snapRunning atomic.Bool
	snapStop    chan struct{}
	snapWG      sync.WaitGroup
}

// emptyHash is IAVL's root hash of an empty tree.
func emptyHash() []byte {
	h := sha256.Sum256(nil)
	return h[:]
}

func (o Options) normalise() (Options, error) {
	switch {
	case o.Dir == "":
		return o, fmt.Errorf("%w: Dir is empty", ErrInvalidOptions)
	case o.KeepRecent < 0:
		return o, fmt.Errorf("%w: KeepRecent %d is negative", ErrInvalidOptions, o.KeepRecent)
	case o.CacheSize < 0:
		return o, fmt.Errorf("%w: CacheSize %d is negative", ErrInvalidOptions, o.CacheSize)
	case o.InitialHeight < 0:
		return o, fmt.Errorf("%w: InitialHeight %d is negative", ErrInvalidOptions, o.InitialHeight)
	}
	if o.CacheSize == 0 {
		o.CacheSize = DefaultCacheSize
	}
	if o.InitialHeight == 0 {
		o.InitialHeight = 1
	}
	if o.Logger == nil {
		o.Logger = nopLogger{}
	}
	snaps, err := o.Snapshots.normalise()
	if err != nil {
		return o, err
	}
	o.Snapshots = snaps
	return o, nil
}

// Open opens the store in opts.Dir, creating it if needed, and recovers the
// last commit: a version IAVL saved without its meta record (a crash inside
// Commit) is discarded. The node calls it once at start-up, before handing
// the store to the ABCI app.
func Open(opts Options) (*Store, error) {
	opts, err := opts.normalise()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(opts.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: create %s: %w", opts.Dir, err)
	}
	db, err := openBadger(opts.Dir, opts.Logger)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	if err := removeTempSnapshots(opts.Snapshots.Dir); err != nil {
		return nil, errors.Join(err, db.Close())
	}
	s, err := open(opts, db)
	if err != nil {
		return nil, errors.Join(err, db.Close())
	}
	return s, nil
}

// treeOptions are the working tree's IAVL options; fresh is true for a
// store with no commit yet, whose first version is InitialHeight.
func (s *Store) treeOptions(fresh bool) []iavl.Option {
	o := []iavl.Option{iavl.SyncOption(true), iavl.FlushThresholdOption(iavlFlushThreshold)}
	if fresh && s.opts.InitialHeight > 1 {
		o = append(o, iavl.InitialVersionOption(uint64(s.opts.InitialHeight)))
	}
	return o
}

func open(opts Options, db *badgerDB) (*Store, error) {
	meta, found, err := readMeta(db)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{
		opts:     opts,
		log:      opts.Logger,
		db:       db,
		readers:  map[int64]int{},
		gcStop:   make(chan struct{}),
		gcDone:   make(chan struct{}),
		snapStop: make(chan struct{}),
	}
	if err := s.recoverRestore(found); err != nil {
		return nil, err
	}
	// skipFastStorageUpgrade=true: IAVL's fast index answers reads of the
	// latest version from keys rewritten in place during SaveVersion, which
	// would let a concurrent query see a half-saved block. Without it every
	// read walks the immutable, versioned tree.
	s.tree = iavl.NewMutableTree(db, opts.CacheSize, true, iavlLogger{opts.Logger}, s.treeOptions(!found)...)
	if err := s.recover(meta, found); err != nil {
		return nil, errors.Join(err, s.tree.Close())
	}
	// Created after recovery, so its cache never holds a discarded version.
	s.reader = iavl.NewMutableTree(db, opts.CacheSize, true, iavlLogger{opts.Logger})
	s.empty = iavl.NewImmutableTree(db, 1, true, iavlLogger{opts.Logger})
	if opts.KeepRecent > 0 {
		go s.gcLoop()
	} else {
		close(s.gcDone)
	}
	s.log.Info("store opened", "dir", opts.Dir, "height", s.lastHeight,
		"app_hash", hex.EncodeToString(s.lastHash), "earliest", s.earliest, "keep_recent", opts.KeepRecent)
	return s, nil
}

// recover loads the version the meta record names, discarding any newer
// version IAVL holds, and checks its hash.
func (s *Store) recover(meta commitMeta, found bool) error {
	latest, err := s.tree.GetLatestVersion()
	if err != nil {
		return fmt.Errorf("store: read latest IAVL version: %w", err)
	}
	switch {
	case !found && latest > 0:
		// Crash during the very first commit: nothing was committed.
		s.log.Info("store: discarding uncommitted IAVL versions", "committed", 0, "found", latest)
		if err := s.tree.DeleteVersionsFrom(1); err != nil {
			return fmt.Errorf("store: discard uncommitted versions 1..%d: %w", latest, err)
		}
		if _, err := s.tree.Load(); err != nil {
			return fmt.Errorf("store: load empty tree: %w", err)
		}
	case !found:
		if _, err := s.tree.Load(); err != nil {
			return fmt.Errorf("store: load empty tree: %w", err)
		}
	case latest < meta.height:
		return fmt.Errorf("%w: meta record says height %d but IAVL's latest version is %d",
			ErrCorrupt, meta.height, latest)
	case latest > meta.height:
		s.log.Info("store: discarding uncommitted IAVL versions", "committed", meta.height, "found", latest)
		if err := s.tree.LoadVersionForOverwriting(meta.height); err != nil {
			return fmt.Errorf("store: roll back IAVL from %d to %d: %w", latest, meta.height, err)
		}
	default:
		if _, err := s.tree.LoadVersion(meta.height); err != nil {
			return fmt.Errorf("store: load version %d: %w", meta.height, err)
		}
	}
	if !found {
		s.lastHash = emptyHash()
		return nil
	}
	if got := s.tree.Hash(); !bytes.Equal(got, meta.appHash) {
		return fmt.Errorf("%w: height %d: IAVL root hash %X differs from the committed app hash %X",
			ErrCorrupt, meta.height, got, meta.appHash)
	}
	s.lastHeight, s.lastHash = meta.height, meta.appHash
	s.earliest = s.findEarliest()
	return nil
}

// recoverRestore reads the base of a restored store, and empties a store
// a crash left half-way through a restore (CometBFT then state-syncs
// again).
func (s *Store) recoverRestore(committed bool) error {
	bz, err := s.db.Get(baseKey)
	if err != nil {
		return fmt.Errorf("store: read base: %w", err)
	}
	if bz != nil {
		if len(bz) != 8 || int64(binary.BigEndian.Uint64(bz)) <= 0 {
			return fmt.Errorf("%w: base record of %d bytes", ErrCorrupt, len(bz))
		}
		s.base = int64(binary.BigEndian.Uint64(bz))
	}
	marked, err := s.db.Has(restoringKey)
	if err != nil {
		return fmt.Errorf("store: read restore mark: %w", err)
	}
	switch {
	case marked && committed:
		return fmt.Errorf("%w: a restore mark next to a commit", ErrCorrupt)
	case marked:
		s.log.Info("store: discarding a snapshot restore a crash interrupted")
		if err := s.db.db.DropAll(); err != nil {
			return fmt.Errorf("store: discard an interrupted restore: %w", err)
		}
	}
	return nil
}

// findEarliest binary-searches the oldest version still on disk; versions
// on disk are contiguous from the base (or 1) up to lastHeight.
func (s *Store) findEarliest() int64 {
	lo, hi := max(s.base, 1), s.lastHeight
	for lo < hi {
		mid := lo + (hi-lo)/2
		if s.tree.VersionExists(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi
}

// usable returns why working-state calls must stop, if they must.
func (s *Store) usable() error {
	if s.closed.Load() {
		return ErrClosed
	}
	if s.failed != nil {
		return fmt.Errorf("%w (%v)", ErrFailed, s.failed)
	}
	return nil
}

// fail marks the store unusable after a Commit went wrong half-way.
func (s *Store) fail(err error) error {
	s.failed = err
	s.log.Error("store: commit failed; restart to recover the last commit", "err", err)
	return fmt.Errorf("%w: %w", ErrFailed, err)
}

// LastCommit returns the last committed height (0 if none) and its app hash
// (the empty tree's hash at height 0). Info calls it at start-up so CometBFT
// replays what the app missed.
func (s *Store) LastCommit() (height int64, appHash []byte) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastHeight, bytes.Clone(s.lastHash)
}

// Get returns a copy of key's value in the working state, nil if absent.
func (s *Store) Get(key []byte) ([]byte, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := checkKey(key); err != nil {
		return nil, err
	}
	v, err := s.tree.Get(key)
	if err != nil {
		return nil, fmt.Errorf("store: get: %w", err)
	}
	return bytes.Clone(v), nil
}

// Set writes key = value in the working state. value may be empty but not
// nil; note that ICS23 cannot prove an empty value (see ProveAt).
func (s *Store) Set(key, value []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	if value == nil {
		return ErrNilValue
	}
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, max %d", ErrValueTooLarge, len(value), MaxValueSize)
	}
	s.gen.Add(1)
	// IAVL keeps the slices it is given: hand it copies.
	if _, err := s.tree.Set(bytes.Clone(key), append([]byte{}, value...)); err != nil {
		return fmt.Errorf("store: set: %w", err)
	}
	return nil
}

// Delete removes key from the working state; an absent key is not an error.
func (s *Store) Delete(key []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if err := checkKey(key); err != nil {
		return err
	}
	s.gen.Add(1)
	if _, _, err := s.tree.Remove(key); err != nil {
		return fmt.Errorf("store: delete: %w", err)
	}
	return nil
}

// Iterator ranges over the working state in [start, end) (nil = open). Any
// change to the working state invalidates it (Error then reports
// ErrIteratorInvalidated); close it before writing.
func (s *Store) Iterator(start, end []byte, ascending bool) (Iterator, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	if err := checkBounds(start, end); err != nil {
		return nil, err
	}
	inner, err := s.tree.Iterator(bytes.Clone(start), bytes.Clone(end), ascending)
	if err != nil {
		return nil, fmt.Errorf("store: iterator: %w", err)
	}
	gen := s.gen.Load()
	return &treeIterator{
		inner: inner,
		guard: func() error {
			if s.closed.Load() {
				return ErrClosed
			}
			if s.gen.Load() != gen {
				return ErrIteratorInvalidated
			}
			return nil
		},
	}, nil
}

// WorkingHash returns the app hash Commit would return now; FinalizeBlock
// reports it to CometBFT. It returns nil on a closed store.
func (s *Store) WorkingHash() []byte {
	if s.closed.Load() {
		return nil
	}
	return bytes.Clone(s.tree.WorkingHash())
}

// Rollback discards the working state's uncommitted changes. FinalizeBlock
// calls it first, so a block never builds on an abandoned one.
func (s *Store) Rollback() {
	if s.closed.Load() {
		return
	}
	s.gen.Add(1)
	s.tree.Rollback()
}

// Commit persists the working state as version height, which must be the
// next height (LastCommit+1, or InitialHeight on an empty store), and
// returns its app hash. The synced meta record written after IAVL's save is
// the commit point (see doc.go); older versions are then pruned down to
// KeepRecent. If Commit fails after it began writing, the store refuses
// further work (ErrFailed) and the node must reopen it. ABCI Commit calls it.
func (s *Store) Commit(height int64) ([]byte, error) {
	if err := s.usable(); err != nil {
		return nil, err
	}
	want := s.lastHeight + 1 // only Commit writes lastHeight, and Commit is serialised
	if s.lastHeight == 0 {
		want = s.opts.InitialHeight
	}
	if height != want {
		return nil, fmt.Errorf("%w: got %d, want %d", ErrBadHeight, height, want)
	}
	s.gen.Add(1)
	hash, version, err := s.tree.SaveVersion()
	if err != nil {
		return nil, s.fail(fmt.Errorf("save IAVL version %d: %w", height, err))
	}
	if version != height {
		return nil, s.fail(fmt.Errorf("IAVL saved version %d for height %d", version, height))
	}
	if beforeMetaHook != nil {
		if err := beforeMetaHook(); err != nil {
			return nil, s.fail(err)
		}
	}
	if err := writeMeta(s.db, commitMeta{height: height, appHash: hash}); err != nil {
		return nil, s.fail(err)
	}

	s.mu.Lock()
	s.lastHeight, s.lastHash = height, bytes.Clone(hash)
	if s.earliest == 0 {
		s.earliest = height
	}
	s.prune(height)
	s.maybeSnapshot(height)
	s.mu.Unlock()
	return bytes.Clone(hash), nil
}

// prune deletes versions older than the KeepRecent newest, but none an open
// IteratorAt still reads. Failures are logged, not returned: the block is
// already committed and the next Commit retries. Caller holds mu.
func (s *Store) prune(height int64) {
	if s.opts.KeepRecent == 0 {
		return
	}
	to := height - s.opts.KeepRecent
	s.readersMu.Lock()
	for h := range s.readers {
		to = min(to, h-1)
	}
	s.readersMu.Unlock()
	if to < s.earliest {
		return
	}
	if err := s.tree.DeleteVersionsTo(to); err != nil {
		s.log.Error("store: pruning failed; retrying at the next commit", "to", to, "err", err)
		return
	}
	s.earliest = to + 1
}

// gcLoop rewrites the Badger value log now and then so space freed by
// pruning returns to the file system. It runs only when pruning.
func (s *Store) gcLoop() {
	defer close(s.gcDone)
	t := time.NewTicker(gcInterval)
	defer t.Stop()
	for {
		select {
		case <-s.gcStop:
			return
		case <-t.C:
			for {
				err := s.db.db.RunValueLogGC(0.5)
				if errors.Is(err, badger.ErrNoRewrite) || errors.Is(err, badger.ErrRejected) {
					break
				}
				if err != nil {
					s.log.Error("store: badger value log GC", "err", err)
					break
				}
				select {
				case <-s.gcStop:
					return
				default:
				}
			}
		}
	}
}

// Close stops the store and closes Badger. Uncommitted working changes are
// lost, as after a crash. It waits for running queries; later calls return
// ErrClosed. Close is idempotent.
func (s *Store) Close() error {
	if !s.closed.CompareAndSwap(false, true) {
		return nil
	}
	close(s.gcStop)
	<-s.gcDone
	close(s.snapStop)
	s.snapWG.Wait()
	if s.restoring != nil && s.restoring.importer != nil {
		s.restoring.importer.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return errors.Join(s.tree.Close(), s.reader.Close(), s.db.Close())
}
