package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cosmos/iavl"
	"github.com/dgraph-io/badger/v4"
)

// Keys next to the meta record (same 0xFF prefix, outside IAVL's).
var (
	// restoringKey marks a restore in progress: Open wipes a store that
	// holds it without a commit (a crash half-way through a restore).
	restoringKey = []byte("\xffmedchain/restoring")
	// baseKey holds the height a store was restored at: no version below
	// it is readable (IAVL may still name the root of an older, unchanged
	// version, which findEarliest must not take for a kept height).
	baseKey = []byte("\xffmedchain/base")
)

// restore is a snapshot import in progress. It belongs to the serialised
// caller (the ABCI app), like the working state.
type restore struct {
	meta     *snapshotMeta
	appHash  []byte
	importer *iavl.Importer
	next     uint32 // index of the next chunk to apply
	buf      []byte // bytes of a node record cut by a chunk boundary
	nodes    uint64 // node records imported so far
	// subtrees mirrors the importer's stack of finished subtrees, with the
	// smallest key of each; lastLeaf is the previous leaf's key. They check
	// what the root hash does not cover: an inner node's key, which IAVL
	// uses to find keys and must be the smallest key of its right subtree.
	subtrees []subtree
	lastLeaf []byte
}

type subtree struct {
	height int8
	minKey []byte
}

// checkShape checks n against the subtrees before it: leaves in strictly
// ascending key order; an inner node over the last two subtrees, both
// lower, with its right subtree's smallest key as its key.
func (r *restore) checkShape(n *iavl.ExportNode) error {
	if n.Height == 0 {
		if r.lastLeaf != nil && bytes.Compare(n.Key, r.lastLeaf) <= 0 {
			return fmt.Errorf("%w: leaf keys out of order", ErrSnapshotInvalid)
		}
		r.lastLeaf = n.Key
		r.subtrees = append(r.subtrees, subtree{height: 0, minKey: n.Key})
		return nil
	}
	k := len(r.subtrees)
	if k < 2 || r.subtrees[k-1].height >= n.Height || r.subtrees[k-2].height >= n.Height {
		return fmt.Errorf("%w: inner node of height %d without two lower subtrees before it", ErrSnapshotInvalid, n.Height)
	}
	left, right := r.subtrees[k-2], r.subtrees[k-1]
	if !bytes.Equal(n.Key, right.minKey) {
		return fmt.Errorf("%w: inner node key is not the smallest key of its right subtree", ErrSnapshotInvalid)
	}
	r.subtrees = append(r.subtrees[:k-2], subtree{height: n.Height, minKey: left.minKey})
	return nil
}

// BeginRestore starts restoring snap into this store, which must be empty
// (a fresh node: state sync replaces InitChain and the blocks up to
// snap.Height). appHash is the app hash CometBFT's light client verified
// for snap.Height; the snapshot must claim it, and the restored tree must
// have it. A restore already in progress is abandoned first. Errors:
// ErrSnapshotFormat, ErrSnapshotInvalid, ErrSnapshotMismatch, ErrNotEmpty.
// OfferSnapshot calls it.
func (s *Store) BeginRestore(snap Snapshot, appHash []byte) error {
	if err := s.usable(); err != nil {
		return err
	}
	if s.restoring != nil {
		if err := s.AbortRestore(); err != nil {
			return err
		}
	}
	if h, _ := s.LastCommit(); h != 0 {
		return fmt.Errorf("%w (it holds height %d); to state-sync, start from a new home", ErrNotEmpty, h)
	}
	if snap.Format != SnapshotFormat {
		return fmt.Errorf("%w: format %d, this node reads format %d", ErrSnapshotFormat, snap.Format, SnapshotFormat)
	}
	m, err := decodeSnapshotMeta(snap.Metadata)
	if err != nil {
		return err
	}
	switch {
	case !bytes.Equal(snapshotHash(snap.Metadata), snap.Hash):
		return fmt.Errorf("%w: hash %X is not the SHA-256 of its metadata", ErrSnapshotInvalid, snap.Hash)
	case m.height != snap.Height:
		return fmt.Errorf("%w: offered for height %d, its metadata says %d", ErrSnapshotInvalid, snap.Height, m.height)
	case uint64(len(m.chunkHashes)) != uint64(snap.Chunks):
		return fmt.Errorf("%w: offered with %d chunks, its metadata lists %d", ErrSnapshotInvalid, snap.Chunks, len(m.chunkHashes))
	case len(appHash) != hashSize:
		return fmt.Errorf("%w: the trusted app hash is %d bytes, want %d", ErrSnapshotMismatch, len(appHash), hashSize)
	case !bytes.Equal(m.rootHash, appHash):
		return fmt.Errorf("%w: height %d: snapshot root %X, chain app hash %X", ErrSnapshotMismatch, m.height, m.rootHash, appHash)
	}
	s.gen.Add(1)
	s.tree.Rollback()
	if err := s.db.set(restoringKey, []byte{1}); err != nil {
		return fmt.Errorf("store: mark restore: %w", err)
	}
	imp, err := s.tree.Import(m.height)
	if err != nil {
		return errors.Join(fmt.Errorf("store: begin import at %d: %w", m.height, err), s.wipe())
	}
	s.restoring = &restore{meta: m, appHash: bytes.Clone(appHash), importer: imp}
	s.log.Info("store: restoring snapshot", "height", m.height, "chunks", len(m.chunkHashes), "bytes", m.size, "nodes", m.nodes)
	return nil
}

// RestoreChunk applies chunk index of the restore BeginRestore started.
// Chunks must come in order; a chunk already applied is accepted again and
// ignored. It returns done=true once the last chunk is in and the restored
// root hash equals the trusted app hash: the store then holds the
// snapshot's height as its last commit, and further blocks commit on it.
//
// A chunk whose SHA-256 differs from the metadata's is refused with
// ErrChunkHash and changes nothing (fetch it again elsewhere). A malformed
// node stream (ErrSnapshotInvalid) or a wrong root hash
// (ErrSnapshotMismatch) ends the restore and empties the store again.
// ErrChunkOrder asks for the restore to start over. ApplySnapshotChunk
// calls it.
func (s *Store) RestoreChunk(index uint32, chunk []byte) (done bool, err error) {
	if err := s.usable(); err != nil {
		return false, err
	}
	r := s.restoring
	switch {
	case r == nil:
		return false, ErrNoRestore
	case index < r.next:
		return false, nil
	case index > r.next:
		return false, fmt.Errorf("%w: got chunk %d, expected %d", ErrChunkOrder, index, r.next)
	}
	if h := sha256.Sum256(chunk); !bytes.Equal(h[:], r.meta.chunkHashes[index]) {
		return false, fmt.Errorf("%w: chunk %d (%d bytes)", ErrChunkHash, index, len(chunk))
	}
	if err := s.importChunk(r, chunk); err != nil {
		return false, s.failRestore(err)
	}
	r.next++
	if r.next < uint32(len(r.meta.chunkHashes)) {
		return false, nil
	}
	if err := s.finishRestore(r); err != nil {
		return false, s.failRestore(err)
	}
	return true, nil
}

// importChunk decodes the node records chunk completes and imports them.
func (s *Store) importChunk(r *restore, chunk []byte) error {
	r.buf = append(r.buf, chunk...)
	off := 0
	for off < len(r.buf) {
		n, used, err := decodeNode(r.buf[off:], r.meta.height)
		if errors.Is(err, errIncomplete) {
			break
		}
		if err != nil {
			return fmt.Errorf("node %d: %w", r.nodes, err)
		}
		if r.nodes == r.meta.nodes {
			return fmt.Errorf("%w: more than the %d nodes its metadata announces", ErrSnapshotInvalid, r.meta.nodes)
		}
		if err := r.checkShape(n); err != nil {
			return fmt.Errorf("node %d: %w", r.nodes, err)
		}
		if err := addNode(r.importer, n); err != nil {
			return fmt.Errorf("%w: node %d: %v", ErrSnapshotInvalid, r.nodes, err)
		}
		r.nodes++
		off += used
	}
	r.buf = append(r.buf[:0], r.buf[off:]...)
	return nil
}

// addNode adds n to the import. IAVL's importer trusts its input; a panic
// on a malformed tree becomes an error.
func addNode(imp *iavl.Importer, n *iavl.ExportNode) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("malformed tree: %v", p)
		}
	}()
	return imp.Add(n)
}

func commitImport(imp *iavl.Importer) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: malformed tree: %v", ErrSnapshotInvalid, p)
		}
	}()
	if err := imp.Commit(); err != nil {
		return fmt.Errorf("%w: %v", ErrSnapshotInvalid, err)
	}
	return nil
}

// finishRestore checks the stream ended cleanly, commits the import,
// checks the root hash and writes the commit point.
func (s *Store) finishRestore(r *restore) error {
	switch {
	case len(r.subtrees) > 1:
		return fmt.Errorf("%w: the stream ends with %d subtrees, not one tree", ErrSnapshotInvalid, len(r.subtrees))
	case len(r.buf) != 0:
		return fmt.Errorf("%w: the last chunk ends inside a node record", ErrSnapshotInvalid)
	case r.nodes != r.meta.nodes:
		return fmt.Errorf("%w: %d nodes, its metadata announces %d", ErrSnapshotInvalid, r.nodes, r.meta.nodes)
	}
	if err := commitImport(r.importer); err != nil {
		return err
	}
	r.importer = nil
	if got := s.tree.Hash(); !bytes.Equal(got, r.appHash) {
		return fmt.Errorf("%w: height %d: restored root %X, chain app hash %X", ErrSnapshotMismatch, r.meta.height, got, r.appHash)
	}
	meta, err := encodeMeta(commitMeta{height: r.meta.height, appHash: r.appHash})
	if err != nil {
		return err
	}
	base := binary.BigEndian.AppendUint64(nil, uint64(r.meta.height))
	// One synced transaction: the commit point, the base, the end of the
	// restore mark.
	err = s.db.db.Update(func(txn *badger.Txn) error {
		return errors.Join(txn.Set(metaKey, meta), txn.Set(baseKey, base), txn.Delete(restoringKey))
	})
	if err != nil {
		return fmt.Errorf("store: write the restored commit point: %w", err)
	}
	reader := iavl.NewMutableTree(s.db, s.opts.CacheSize, true, iavlLogger{s.opts.Logger})
	s.mu.Lock()
	old := s.reader
	s.reader = reader
	s.lastHeight, s.lastHash = r.meta.height, bytes.Clone(r.appHash)
	s.earliest, s.base = r.meta.height, r.meta.height
	s.mu.Unlock()
	_ = old.Close()
	s.restoring = nil
	s.log.Info("store: snapshot restored", "height", r.meta.height, "nodes", r.nodes)
	return nil
}

// failRestore ends a failed restore, empties the store and returns err.
func (s *Store) failRestore(err error) error {
	s.log.Error("store: snapshot restore failed; the store is empty again", "err", err)
	if werr := s.AbortRestore(); werr != nil {
		return errors.Join(err, werr)
	}
	return err
}

// AbortRestore abandons the restore in progress, if any, and empties the
// store of what it imported. OfferSnapshot calls it (through BeginRestore)
// when CometBFT moves to another snapshot.
func (s *Store) AbortRestore() error {
	r := s.restoring
	if r == nil {
		return nil
	}
	s.restoring = nil
	if r.importer != nil {
		r.importer.Close()
	}
	return s.wipe()
}

// wipe empties an uncommitted store: every Badger key goes, and the trees
// start again from nothing. Only a store with no commit is wiped.
func (s *Store) wipe() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastHeight != 0 {
		return fmt.Errorf("store: refusing to wipe a store holding height %d", s.lastHeight)
	}
	if err := s.db.db.DropAll(); err != nil {
		return s.fail(fmt.Errorf("empty the store after a failed restore: %w", err))
	}
	_ = s.tree.Close()
	_ = s.reader.Close()
	s.gen.Add(1)
	s.tree = iavl.NewMutableTree(s.db, s.opts.CacheSize, true, iavlLogger{s.opts.Logger}, s.treeOptions(false)...)
	if _, err := s.tree.Load(); err != nil {
		return s.fail(fmt.Errorf("load the empty tree: %w", err))
	}
	s.reader = iavl.NewMutableTree(s.db, s.opts.CacheSize, true, iavlLogger{s.opts.Logger})
	return nil
}
