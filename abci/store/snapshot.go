package store

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/cosmos/iavl"
)

const (
	// DefaultSnapshotKeep is how many snapshots are kept when
	// SnapshotOptions.KeepRecent is 0.
	DefaultSnapshotKeep = 2
	metadataFile        = "metadata"
	tmpPrefix           = ".tmp-"
)

// SnapshotOptions configure the snapshots a store takes and serves for
// CometBFT state sync (see snapshot_format.go for the format).
type SnapshotOptions struct {
	// Dir holds one folder per snapshot, named by its height
	// (<home>/data/snapshots/<height>/). Empty: no snapshots.
	Dir string
	// Interval takes a snapshot after every Commit of a height that is a
	// multiple of it; 0 takes none (the node still restores).
	Interval int64
	// KeepRecent is how many snapshots to keep; 0 = DefaultSnapshotKeep.
	KeepRecent int
	// ChunkSize is the chunk size in bytes; 0 = DefaultChunkSize.
	ChunkSize int
}

func (o SnapshotOptions) normalise() (SnapshotOptions, error) {
	switch {
	case o.Interval < 0:
		return o, fmt.Errorf("%w: snapshot Interval %d is negative", ErrInvalidOptions, o.Interval)
	case o.Interval > 0 && o.Dir == "":
		return o, fmt.Errorf("%w: snapshot Interval %d but no snapshot Dir", ErrInvalidOptions, o.Interval)
	case o.KeepRecent < 0:
		return o, fmt.Errorf("%w: snapshot KeepRecent %d is negative", ErrInvalidOptions, o.KeepRecent)
	case o.ChunkSize < 0 || o.ChunkSize > MaxChunkSize:
		return o, fmt.Errorf("%w: snapshot ChunkSize %d, want 0 (default) to %d", ErrInvalidOptions, o.ChunkSize, MaxChunkSize)
	}
	if o.KeepRecent == 0 {
		o.KeepRecent = DefaultSnapshotKeep
	}
	if o.ChunkSize == 0 {
		o.ChunkSize = DefaultChunkSize
	}
	return o, nil
}

// Snapshot describes one snapshot, as CometBFT's abci.Snapshot does.
type Snapshot struct {
	Height   int64
	Format   uint32
	Chunks   uint32
	Hash     []byte // SHA-256 of Metadata
	Metadata []byte
}

// snapshotDir is the folder of the snapshot of height.
func (s *Store) snapshotDir(height int64) string {
	return filepath.Join(s.opts.Snapshots.Dir, strconv.FormatInt(height, 10))
}

// maybeSnapshot starts a background snapshot of height if the interval
// asks for one and none is running. It pins height against pruning before
// it returns. Commit calls it holding mu.
func (s *Store) maybeSnapshot(height int64) {
	o := s.opts.Snapshots
	if o.Interval == 0 || height%o.Interval != 0 {
		return
	}
	if !s.snapRunning.CompareAndSwap(false, true) {
		s.log.Info("store: snapshot skipped, the previous one is still being written", "height", height)
		return
	}
	release := s.pin(height)
	s.snapWG.Add(1)
	go func() {
		defer s.snapWG.Done()
		defer s.snapRunning.Store(false)
		defer release()
		if _, err := s.writeSnapshot(height); err != nil {
			if !errors.Is(err, ErrClosed) {
				s.log.Error("store: snapshot failed; the next interval tries again", "height", height, "err", err)
			}
			return
		}
		s.pruneSnapshots()
	}()
}

// pin keeps height from being pruned until the returned func is called.
// The caller holds mu (shared or exclusive).
func (s *Store) pin(height int64) (release func()) {
	s.readersMu.Lock()
	s.readers[height]++
	s.readersMu.Unlock()
	return func() {
		s.readersMu.Lock()
		defer s.readersMu.Unlock()
		if s.readers[height]--; s.readers[height] <= 0 {
			delete(s.readers, height)
		}
	}
}

// TakeSnapshot writes a snapshot of committed height (0 = latest) now and
// returns it; Commit takes them in the background on its own. It may run
// while blocks commit. Operators and tests call it.
func (s *Store) TakeSnapshot(height int64) (*Snapshot, error) {
	if s.opts.Snapshots.Dir == "" {
		return nil, fmt.Errorf("%w: no snapshot directory configured", ErrInvalidOptions)
	}
	s.mu.RLock()
	_, h, err := s.versionAt(height)
	if err != nil {
		s.mu.RUnlock()
		return nil, err
	}
	if h == 0 {
		s.mu.RUnlock()
		return nil, fmt.Errorf("%w: nothing committed yet, nothing to snapshot", ErrHeightNotCommitted)
	}
	release := s.pin(h)
	s.mu.RUnlock()
	defer release()
	snap, err := s.writeSnapshot(h)
	if err != nil {
		return nil, err
	}
	s.pruneSnapshots()
	return snap, nil
}

// writeSnapshot exports version height (pinned by the caller) into a
// temporary folder, then renames it into place.
func (s *Store) writeSnapshot(height int64) (snap *Snapshot, err error) {
	start := time.Now()
	final := s.snapshotDir(height)
	if _, err := os.Stat(filepath.Join(final, metadataFile)); err == nil {
		return s.readSnapshot(height)
	}
	s.mu.RLock()
	t, _, err := s.versionAt(height)
	s.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(s.opts.Snapshots.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("store: snapshot folder: %w", err)
	}
	tmp, err := os.MkdirTemp(s.opts.Snapshots.Dir, tmpPrefix+strconv.FormatInt(height, 10)+"-")
	if err != nil {
		return nil, fmt.Errorf("store: snapshot folder: %w", err)
	}
	defer func() {
		if err != nil {
			_ = os.RemoveAll(tmp)
		}
	}()
	cw := &chunkWriter{dir: tmp, size: s.opts.Snapshots.ChunkSize}
	nodes, err := s.exportTree(t, cw)
	if err := errors.Join(err, cw.close()); err != nil {
		return nil, err
	}
	// IAVL's exporter stops silently on a read error: a whole tree of n
	// leaves has 2n-1 nodes.
	if want := max(2*t.Size()-1, 0); nodes != uint64(want) {
		return nil, fmt.Errorf("store: snapshot of height %d exported %d nodes, the tree has %d", height, nodes, want)
	}
	m := &snapshotMeta{height: height, rootHash: t.Hash(), nodes: nodes, size: cw.total,
		chunkSize: uint32(cw.size), chunkHashes: cw.hashes}
	md := m.encode()
	if err := writeSynced(filepath.Join(tmp, metadataFile), md); err != nil {
		return nil, err
	}
	if err := syncDir(tmp); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return nil, fmt.Errorf("store: publish snapshot %d: %w", height, err)
	}
	if err := syncDir(s.opts.Snapshots.Dir); err != nil {
		return nil, err
	}
	s.log.Info("store: snapshot taken", "height", height, "chunks", len(cw.hashes), "bytes", cw.total,
		"nodes", nodes, "took", time.Since(start).Round(time.Millisecond).String())
	return &Snapshot{Height: height, Format: SnapshotFormat, Chunks: uint32(len(cw.hashes)), Hash: snapshotHash(md), Metadata: md}, nil
}

// exportTree writes t's nodes to w in post-order and counts them. It stops
// with ErrClosed when the store closes.
func (s *Store) exportTree(t *iavl.ImmutableTree, w io.Writer) (uint64, error) {
	if t.Size() == 0 {
		return 0, nil
	}
	exp, err := t.Export()
	if err != nil {
		return 0, fmt.Errorf("store: export: %w", err)
	}
	defer exp.Close()
	var (
		rec   []byte
		nodes uint64
	)
	for {
		select {
		case <-s.snapStop:
			return nodes, ErrClosed
		default:
		}
		n, err := exp.Next()
		if errors.Is(err, iavl.ErrorExportDone) {
			return nodes, nil
		}
		if err != nil {
			return nodes, fmt.Errorf("store: export: %w", err)
		}
		rec = appendNode(rec[:0], n)
		if _, err := w.Write(rec); err != nil {
			return nodes, err
		}
		nodes++
	}
}

// chunkWriter cuts a byte stream into chunk files of size bytes, each
// synced, and remembers their SHA-256.
type chunkWriter struct {
	dir    string
	size   int
	total  uint64
	hashes [][]byte

	f   *os.File
	buf *bufio.Writer
	h   hash.Hash
	n   int // bytes in the current chunk
}

func chunkFile(dir string, i int) string { return filepath.Join(dir, fmt.Sprintf("chunk-%06d", i)) }

func (w *chunkWriter) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		if w.f == nil {
			if len(w.hashes) >= MaxChunks {
				return written, fmt.Errorf("store: snapshot needs more than %d chunks; raise the chunk size", MaxChunks)
			}
			f, err := os.OpenFile(chunkFile(w.dir, len(w.hashes)), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
			if err != nil {
				return written, fmt.Errorf("store: snapshot chunk: %w", err)
			}
			w.f, w.h, w.n = f, sha256.New(), 0
			w.buf = bufio.NewWriterSize(io.MultiWriter(f, w.h), 1<<20)
		}
		k := min(len(p), w.size-w.n)
		if _, err := w.buf.Write(p[:k]); err != nil {
			return written, fmt.Errorf("store: snapshot chunk: %w", err)
		}
		p, written, w.n, w.total = p[k:], written+k, w.n+k, w.total+uint64(k)
		if w.n == w.size {
			if err := w.finish(); err != nil {
				return written, err
			}
		}
	}
	return written, nil
}

// finish flushes, syncs and closes the current chunk.
func (w *chunkWriter) finish() error {
	err := errors.Join(w.buf.Flush(), w.f.Sync(), w.f.Close())
	if err != nil {
		return fmt.Errorf("store: snapshot chunk: %w", err)
	}
	w.hashes = append(w.hashes, w.h.Sum(nil))
	w.f, w.buf, w.h = nil, nil, nil
	return nil
}

// close finishes the last chunk; an empty stream is one empty chunk.
func (w *chunkWriter) close() error {
	if w.f == nil && len(w.hashes) == 0 {
		f, err := os.OpenFile(chunkFile(w.dir, 0), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
		if err != nil {
			return fmt.Errorf("store: snapshot chunk: %w", err)
		}
		w.f, w.h = f, sha256.New()
		w.buf = bufio.NewWriter(io.MultiWriter(f, w.h))
	}
	if w.f == nil {
		return nil
	}
	return w.finish()
}

func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	_, err = f.Write(data)
	if err := errors.Join(err, f.Sync(), f.Close()); err != nil {
		return fmt.Errorf("store: write %s: %w", path, err)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if err := errors.Join(d.Sync(), d.Close()); err != nil {
		return fmt.Errorf("store: sync %s: %w", dir, err)
	}
	return nil
}

// snapshotHeights lists the heights of the snapshot folders, newest first.
// Temporary folders and anything not named by a height are skipped.
func (s *Store) snapshotHeights() ([]int64, error) {
	entries, err := os.ReadDir(s.opts.Snapshots.Dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("store: list snapshots: %w", err)
	}
	var hs []int64
	for _, e := range entries {
		h, err := strconv.ParseInt(e.Name(), 10, 64)
		if !e.IsDir() || err != nil || h <= 0 || strconv.FormatInt(h, 10) != e.Name() {
			continue
		}
		hs = append(hs, h)
	}
	slices.Sort(hs)
	slices.Reverse(hs)
	return hs, nil
}

// readSnapshot reads and checks the metadata of the snapshot of height.
func (s *Store) readSnapshot(height int64) (*Snapshot, error) {
	md, m, err := s.readMetadata(height)
	if err != nil {
		return nil, err
	}
	return &Snapshot{Height: height, Format: SnapshotFormat, Chunks: uint32(len(m.chunkHashes)), Hash: snapshotHash(md), Metadata: md}, nil
}

func (s *Store) readMetadata(height int64) ([]byte, *snapshotMeta, error) {
	if s.opts.Snapshots.Dir == "" || height <= 0 {
		return nil, nil, ErrSnapshotNotFound
	}
	f, err := os.Open(filepath.Join(s.snapshotDir(height), metadataFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("%w: height %d", ErrSnapshotNotFound, height)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("store: snapshot %d: %w", height, err)
	}
	defer f.Close()
	md, err := io.ReadAll(io.LimitReader(f, metaHeaderSize+hashSize*MaxChunks+1))
	if err != nil {
		return nil, nil, fmt.Errorf("store: snapshot %d: %w", height, err)
	}
	m, err := decodeSnapshotMeta(md)
	if err != nil {
		return nil, nil, fmt.Errorf("snapshot %d on disk: %w", height, err)
	}
	if m.height != height {
		return nil, nil, fmt.Errorf("%w: snapshot folder %d holds height %d", ErrSnapshotInvalid, height, m.height)
	}
	return md, m, nil
}

// Snapshots lists the snapshots kept here, newest first; one whose
// metadata cannot be read is logged and left out. ListSnapshots calls it.
func (s *Store) Snapshots() ([]Snapshot, error) {
	if s.opts.Snapshots.Dir == "" {
		return nil, nil
	}
	hs, err := s.snapshotHeights()
	if err != nil {
		return nil, err
	}
	out := make([]Snapshot, 0, len(hs))
	for _, h := range hs {
		snap, err := s.readSnapshot(h)
		if err != nil {
			if !errors.Is(err, ErrSnapshotNotFound) { // not one being pruned right now
				s.log.Error("store: unreadable snapshot left out", "height", h, "err", err)
			}
			continue
		}
		out = append(out, *snap)
	}
	return out, nil
}

// SnapshotChunk returns chunk index of the snapshot of height in format,
// after checking it against the metadata's hash (a corrupt file is
// reported, never served). LoadSnapshotChunk calls it.
func (s *Store) SnapshotChunk(height int64, format, index uint32) ([]byte, error) {
	if format != SnapshotFormat {
		return nil, fmt.Errorf("%w: format %d, this node writes %d", ErrSnapshotNotFound, format, SnapshotFormat)
	}
	_, m, err := s.readMetadata(height)
	if err != nil {
		return nil, err
	}
	if index >= uint32(len(m.chunkHashes)) {
		return nil, fmt.Errorf("%w: chunk %d of a %d-chunk snapshot", ErrSnapshotNotFound, index, len(m.chunkHashes))
	}
	f, err := os.Open(chunkFile(s.snapshotDir(height), int(index)))
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%w: height %d chunk %d", ErrSnapshotNotFound, height, index)
	}
	if err != nil {
		return nil, fmt.Errorf("store: snapshot %d chunk %d: %w", height, index, err)
	}
	defer f.Close()
	chunk, err := io.ReadAll(io.LimitReader(f, int64(m.chunkSize)+1))
	if err != nil {
		return nil, fmt.Errorf("store: snapshot %d chunk %d: %w", height, index, err)
	}
	if h := sha256.Sum256(chunk); !bytes.Equal(h[:], m.chunkHashes[index]) {
		return nil, fmt.Errorf("%w: snapshot %d chunk %d on disk is corrupt; delete %s", ErrSnapshotInvalid, height, index, s.snapshotDir(height))
	}
	return chunk, nil
}

// pruneSnapshots deletes all but the newest KeepRecent snapshots, and
// temporary folders a crash left behind (not the one being written).
func (s *Store) pruneSnapshots() {
	hs, err := s.snapshotHeights()
	if err != nil {
		s.log.Error("store: prune snapshots", "err", err)
		return
	}
	for _, h := range hs[min(len(hs), s.opts.Snapshots.KeepRecent):] {
		if err := os.RemoveAll(s.snapshotDir(h)); err != nil {
			s.log.Error("store: prune snapshot", "height", h, "err", err)
		}
	}
}

// removeTempSnapshots deletes the temporary folders of snapshots a crash
// interrupted. Open calls it, before any snapshot can start.
func removeTempSnapshots(dir string) error {
	if dir == "" {
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("store: snapshot folder: %w", err)
	}
	for _, e := range entries {
		if len(e.Name()) > len(tmpPrefix) && e.Name()[:len(tmpPrefix)] == tmpPrefix {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return fmt.Errorf("store: remove interrupted snapshot: %w", err)
			}
		}
	}
	return nil
}
