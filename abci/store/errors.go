package store

import "errors"

// Errors returned by the store. Callers match them with errors.Is; every
// returned error wraps one of these or a Badger/IAVL error with context.
var (
	// ErrEmptyKey: a key (or a non-nil range bound) is empty.
	ErrEmptyKey = errors.New("store: empty key")
	// ErrNilValue: Set was given a nil value; use Delete to remove a key.
	ErrNilValue = errors.New("store: nil value (use Delete to remove a key)")
	// ErrValueTooLarge: a value exceeds MaxValueSize.
	ErrValueTooLarge = errors.New("store: value too large")
	// ErrClosed: the store has been closed.
	ErrClosed = errors.New("store: closed")
	// ErrFailed: an earlier Commit failed half-way; the in-memory state can no
	// longer be trusted. Restart the node: Open recovers the last commit.
	ErrFailed = errors.New("store: unusable after a failed commit, reopen to recover")
	// ErrBadHeight: Commit was asked for a height other than the next one.
	ErrBadHeight = errors.New("store: commit height is not the next height")
	// ErrHeightNotCommitted: a read asked for a height not committed yet.
	ErrHeightNotCommitted = errors.New("store: height not committed")
	// ErrHeightPruned: a read asked for a height already pruned.
	ErrHeightPruned = errors.New("store: height pruned")
	// ErrInvalidHeight: a read asked for a negative height.
	ErrInvalidHeight = errors.New("store: invalid height")
	// ErrEmptyState: a proof was asked of a height whose state is empty;
	// ICS23 cannot prove anything against an empty tree.
	ErrEmptyState = errors.New("store: state is empty at this height, nothing to prove")
	// ErrUnprovable: IAVL built a proof that does not verify, which happens
	// when the key or a neighbour holds an empty value (ICS23 leaves need a
	// non-empty value).
	ErrUnprovable = errors.New("store: proof does not verify (empty value at or next to the key)")
	// ErrIteratorInvalidated: the working state changed under an open
	// working-state iterator.
	ErrIteratorInvalidated = errors.New("store: working state changed while the iterator was open")
	// ErrCorrupt: the data directory is inconsistent (meta record vs IAVL).
	ErrCorrupt = errors.New("store: corrupt data directory")
	// ErrInvalidProof: a proof did not verify against the given app hash.
	ErrInvalidProof = errors.New("store: invalid proof")
	// ErrInvalidOptions: Open was given unusable Options.
	ErrInvalidOptions = errors.New("store: invalid options")

	// ErrSnapshotFormat: a snapshot is of a format this store does not read
	// (CometBFT then asks peers for another format).
	ErrSnapshotFormat = errors.New("store: unknown snapshot format")
	// ErrSnapshotInvalid: a snapshot's metadata or node stream is malformed,
	// or inconsistent with what CometBFT offered; refuse the snapshot.
	ErrSnapshotInvalid = errors.New("store: invalid snapshot")
	// ErrSnapshotMismatch: a snapshot's root hash is not the app hash the
	// light client verified for its height; refuse the snapshot.
	ErrSnapshotMismatch = errors.New("store: snapshot does not match the chain's app hash")
	// ErrChunkHash: a chunk's SHA-256 is not the one in the snapshot's
	// metadata; fetch it again, from another peer. Nothing was applied.
	ErrChunkHash = errors.New("store: snapshot chunk hash mismatch")
	// ErrChunkOrder: a chunk came out of order; restart the restore.
	ErrChunkOrder = errors.New("store: snapshot chunk out of order")
	// ErrNoRestore: a chunk came with no restore begun.
	ErrNoRestore = errors.New("store: no snapshot restore in progress")
	// ErrNotEmpty: a restore needs an empty store (a node that has not
	// committed any block).
	ErrNotEmpty = errors.New("store: state is not empty; a snapshot restores only into a fresh node")
	// ErrSnapshotNotFound: no such snapshot or chunk is kept here.
	ErrSnapshotNotFound = errors.New("store: snapshot not found")
)
