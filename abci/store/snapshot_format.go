package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cosmos/iavl"
)

// Snapshot format 1 (SnapshotFormat).
//
// A snapshot of height H is the IAVL tree of version H exported in
// post-order (iavl.Exporter), one node record after the other:
//
//	height   1 byte, 0..127 (0 = leaf)
//	version  uvarint, 1..H: the version that wrote the node
//	key      uvarint length (1..MaxValueSize), then the bytes
//	value    leaves only: uvarint length (0..MaxValueSize), then the bytes
//
// That byte stream is cut into chunks of ChunkSize bytes (the last one may be
// shorter; an empty tree is one empty chunk). The metadata, which CometBFT
// carries in Snapshot.Metadata, is (integers big endian):
//
//	offset  size  field
//	0       1     format version = 1
//	1       8     height H
//	9       32    root hash of version H (the app hash)
//	41      8     number of node records
//	49      8     length of the byte stream
//	57      4     chunk size
//	61      4     number of chunks n
//	65      32·n  SHA-256 of each chunk, in order
//
// The snapshot's hash (Snapshot.Hash) is the SHA-256 of the metadata, so
// peers holding the same height serve the same snapshot.

// SnapshotFormat is the only snapshot format this store writes and restores.
const SnapshotFormat uint32 = 1

const (
	// DefaultChunkSize is the chunk size when SnapshotOptions.ChunkSize is 0:
	// under a second at CometBFT's default 5 MB/s per peer.
	DefaultChunkSize = 4 << 20
	// MaxChunkSize bounds a chunk, below CometBFT's 16 MB chunk message.
	MaxChunkSize = 10 << 20
	// MaxChunks bounds a snapshot's chunk count (CometBFT's default
	// max_snapshot_chunks); the metadata then stays under its 4 MB message.
	MaxChunks = 100_000

	metaHeaderSize = 1 + 8 + hashSize + 8 + 8 + 4 + 4
	// maxKeySize bounds a key in a snapshot record.
	maxKeySize = MaxValueSize
	// minRecordSize is the smallest node record: height, version, a 1-byte key.
	minRecordSize = 1 + 1 + 1 + 1
	// maxTreeHeight is IAVL's height type's bound (int8).
	maxTreeHeight = math.MaxInt8
)

// snapshotMeta is a decoded, validated snapshot metadata record.
type snapshotMeta struct {
	height      int64
	rootHash    []byte
	nodes       uint64
	size        uint64 // bytes in the node stream
	chunkSize   uint32
	chunkHashes [][]byte
}

// chunkLen is the length chunk i must have.
func (m *snapshotMeta) chunkLen(i uint32) uint64 {
	if uint64(i+1)*uint64(m.chunkSize) <= m.size {
		return uint64(m.chunkSize)
	}
	return m.size - uint64(i)*uint64(m.chunkSize)
}

// chunksFor is how many chunks a stream of size bytes is cut into.
func chunksFor(size uint64, chunkSize uint32) uint64 {
	if size == 0 {
		return 1
	}
	return (size + uint64(chunkSize) - 1) / uint64(chunkSize)
}

// encode writes the metadata record.
func (m *snapshotMeta) encode() []byte {
	bz := make([]byte, metaHeaderSize, metaHeaderSize+hashSize*len(m.chunkHashes))
	bz[0] = byte(SnapshotFormat)
	binary.BigEndian.PutUint64(bz[1:9], uint64(m.height))
	copy(bz[9:41], m.rootHash)
	binary.BigEndian.PutUint64(bz[41:49], m.nodes)
	binary.BigEndian.PutUint64(bz[49:57], m.size)
	binary.BigEndian.PutUint32(bz[57:61], m.chunkSize)
	binary.BigEndian.PutUint32(bz[61:65], uint32(len(m.chunkHashes)))
	for _, h := range m.chunkHashes {
		bz = append(bz, h...)
	}
	return bz
}

// decodeSnapshotMeta parses and checks a metadata record, which comes from
// an untrusted peer: every error wraps ErrSnapshotInvalid and says which
// field is wrong.
func decodeSnapshotMeta(bz []byte) (*snapshotMeta, error) {
	bad := func(format string, a ...any) (*snapshotMeta, error) {
		return nil, fmt.Errorf("%w: metadata: %s", ErrSnapshotInvalid, fmt.Sprintf(format, a...))
	}
	if len(bz) < metaHeaderSize {
		return bad("%d bytes, shorter than the %d-byte header", len(bz), metaHeaderSize)
	}
	if bz[0] != byte(SnapshotFormat) {
		return bad("format version %d, this node reads %d", bz[0], SnapshotFormat)
	}
	m := &snapshotMeta{
		rootHash:  bytes.Clone(bz[9:41]),
		nodes:     binary.BigEndian.Uint64(bz[41:49]),
		size:      binary.BigEndian.Uint64(bz[49:57]),
		chunkSize: binary.BigEndian.Uint32(bz[57:61]),
	}
	h := binary.BigEndian.Uint64(bz[1:9])
	if h == 0 || h > math.MaxInt64 {
		return bad("height %d out of range", h)
	}
	m.height = int64(h)
	if m.chunkSize == 0 || m.chunkSize > MaxChunkSize {
		return bad("chunk size %d, want 1 to %d", m.chunkSize, MaxChunkSize)
	}
	n := binary.BigEndian.Uint32(bz[61:65])
	if n == 0 || n > MaxChunks {
		return bad("%d chunks, want 1 to %d", n, MaxChunks)
	}
	if want := chunksFor(m.size, m.chunkSize); uint64(n) != want {
		return bad("%d chunks for %d bytes in chunks of %d, want %d", n, m.size, m.chunkSize, want)
	}
	if m.nodes > m.size/minRecordSize {
		return bad("%d nodes cannot fit in %d bytes", m.nodes, m.size)
	}
	if m.nodes%2 == 0 && m.nodes != 0 {
		return bad("%d nodes: a tree of n leaves has 2n-1 nodes", m.nodes)
	}
	if want := metaHeaderSize + hashSize*int(n); len(bz) != want {
		return bad("%d bytes for %d chunk hashes, want %d", len(bz), n, want)
	}
	m.chunkHashes = make([][]byte, n)
	for i := range m.chunkHashes {
		off := metaHeaderSize + hashSize*i
		m.chunkHashes[i] = bytes.Clone(bz[off : off+hashSize])
	}
	return m, nil
}

// snapshotHash is a snapshot's identity: the SHA-256 of its metadata.
func snapshotHash(metadata []byte) []byte {
	h := sha256.Sum256(metadata)
	return h[:]
}

// appendNode appends n's record to dst.
func appendNode(dst []byte, n *iavl.ExportNode) []byte {
	dst = append(dst, byte(n.Height))
	dst = binary.AppendUvarint(dst, uint64(n.Version))
	dst = binary.AppendUvarint(dst, uint64(len(n.Key)))
	dst = append(dst, n.Key...)
	if n.Height == 0 {
		dst = binary.AppendUvarint(dst, uint64(len(n.Value)))
		dst = append(dst, n.Value...)
	}
	return dst
}

// errIncomplete: the buffer ends inside a record; more bytes are needed.
var errIncomplete = errors.New("incomplete node record")

// decodeNode reads one node record from the start of bz, written at
// snapshot height maxVersion. It returns the node and the bytes used,
// errIncomplete if bz ends inside a record, or an error wrapping
// ErrSnapshotInvalid. Key and value are copies.
func decodeNode(bz []byte, maxVersion int64) (*iavl.ExportNode, int, error) {
	if len(bz) == 0 {
		return nil, 0, errIncomplete
	}
	height := bz[0]
	if height > maxTreeHeight {
		return nil, 0, fmt.Errorf("%w: node height %d, at most %d", ErrSnapshotInvalid, height, maxTreeHeight)
	}
	off := 1
	uvarint := func(what string, max uint64) (uint64, error) {
		v, n := binary.Uvarint(bz[off:])
		switch {
		case n == 0:
			return 0, errIncomplete
		case n < 0:
			return 0, fmt.Errorf("%w: node %s is not a valid uvarint", ErrSnapshotInvalid, what)
		case v > max:
			return 0, fmt.Errorf("%w: node %s %d, at most %d", ErrSnapshotInvalid, what, v, max)
		}
		off += n
		return v, nil
	}
	version, err := uvarint("version", uint64(maxVersion))
	if err != nil {
		return nil, 0, err
	}
	if version == 0 {
		return nil, 0, fmt.Errorf("%w: node version 0, versions start at 1", ErrSnapshotInvalid)
	}
	klen, err := uvarint("key length", maxKeySize)
	if err != nil {
		return nil, 0, err
	}
	if klen == 0 {
		return nil, 0, fmt.Errorf("%w: node with an empty key", ErrSnapshotInvalid)
	}
	if uint64(len(bz)-off) < klen {
		return nil, 0, errIncomplete
	}
	n := &iavl.ExportNode{Height: int8(height), Version: int64(version), Key: bytes.Clone(bz[off : off+int(klen)])}
	off += int(klen)
	if height == 0 {
		vlen, err := uvarint("value length", MaxValueSize)
		if err != nil {
			return nil, 0, err
		}
		if uint64(len(bz)-off) < vlen {
			return nil, 0, errIncomplete
		}
		n.Value = append([]byte{}, bz[off:off+int(vlen)]...) // non-nil: IAVL leaves need a value
		off += int(vlen)
	}
	return n, off, nil
}
