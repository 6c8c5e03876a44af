package contracts

import (
	"encoding/binary"
	"fmt"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
)

// GetRecord decodes the state record at key into m (strictly: unknown
// fields are corruption). It reports false, nil when key is absent.
func GetRecord(r Reader, key []byte, m proto.Message) (bool, error) {
	bz, err := r.Get(key)
	if err != nil || bz == nil {
		return false, err
	}
	if err := tx.Unmarshal(bz, m); err != nil {
		return false, fmt.Errorf("state record %x: %w", key, err)
	}
	return true, nil
}

// SetRecord writes m at key with deterministic encoding.
func SetRecord(w KVStore, key []byte, m proto.Message) error {
	bz, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		return err
	}
	return w.Set(key, bz)
}

// IDsIn reads an index: the 8-byte big-endian ids stored as the values of
// the keys in [start, end), in key order.
func IDsIn(r Reader, start, end []byte) ([]uint64, error) {
	it, err := r.Iterator(start, end, true)
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var ids []uint64
	for ; it.Valid(); it.Next() {
		if len(it.Value()) != 8 {
			return nil, fmt.Errorf("index entry %x: value is %d bytes, an id is 8", it.Key(), len(it.Value()))
		}
		ids = append(ids, binary.BigEndian.Uint64(it.Value()))
	}
	return ids, it.Error()
}
