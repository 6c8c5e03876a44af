package contracts

import (
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
