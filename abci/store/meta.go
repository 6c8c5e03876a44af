package store

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math"
)

// metaKey holds the commit point. Its first byte, 0xFF, is outside every
// prefix IAVL writes ('s' nodes and roots, 'f' fast nodes, 'm' metadata,
// 'n'/'o'/'r' legacy nodes, orphans and roots), so no IAVL scan can see it.
var metaKey = []byte("\xffmedchain/meta")

const (
	metaFormat = 1
	hashSize   = sha256.Size
	metaSize   = 1 + 8 + hashSize
)

// commitMeta is the commit point: the last committed height and its app
// hash. Commit writes it after IAVL has saved the version; Open trusts it.
type commitMeta struct {
	height  int64
	appHash []byte
}

// encodeMeta encodes m as format byte | height (big endian) | app hash.
func encodeMeta(m commitMeta) ([]byte, error) {
	if m.height <= 0 {
		return nil, fmt.Errorf("encode meta: height %d is not positive", m.height)
	}
	if len(m.appHash) != hashSize {
		return nil, fmt.Errorf("encode meta: app hash is %d bytes, want %d", len(m.appHash), hashSize)
	}
	bz := make([]byte, metaSize)
	bz[0] = metaFormat
	binary.BigEndian.PutUint64(bz[1:9], uint64(m.height))
	copy(bz[9:], m.appHash)
	return bz, nil
}

// decodeMeta parses what encodeMeta wrote and rejects anything else.
func decodeMeta(bz []byte) (commitMeta, error) {
	if len(bz) != metaSize {
		return commitMeta{}, fmt.Errorf("%w: meta record is %d bytes, want %d", ErrCorrupt, len(bz), metaSize)
	}
	if bz[0] != metaFormat {
		return commitMeta{}, fmt.Errorf("%w: meta record format %d, want %d", ErrCorrupt, bz[0], metaFormat)
	}
	h := binary.BigEndian.Uint64(bz[1:9])
	if h == 0 || h > math.MaxInt64 {
		return commitMeta{}, fmt.Errorf("%w: meta record height %d out of range", ErrCorrupt, h)
	}
	return commitMeta{height: int64(h), appHash: append([]byte(nil), bz[9:]...)}, nil
}

// readMeta returns the commit point, and found=false for a fresh store.
func readMeta(db *badgerDB) (m commitMeta, found bool, err error) {
	bz, err := db.Get(metaKey)
	if err != nil {
		return commitMeta{}, false, fmt.Errorf("read meta record: %w", err)
	}
	if bz == nil {
		return commitMeta{}, false, nil
	}
	if m, err = decodeMeta(bz); err != nil {
		return commitMeta{}, false, fmt.Errorf("read meta record: %w", err)
	}
	return m, true, nil
}

// writeMeta writes the commit point in one synced Badger transaction.
func writeMeta(db *badgerDB, m commitMeta) error {
	bz, err := encodeMeta(m)
	if err != nil {
		return err
	}
	if err := db.set(metaKey, bz); err != nil {
		return fmt.Errorf("write meta record for height %d: %w", m.height, err)
	}
	return nil
}
