package vault

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/medchain/medchain/node/internal/strictjson"
	"github.com/medchain/medchain/node/recordcrypto"
)

// Store keys. Every key of a record is prefix || len(id) (2 bytes, big
// endian) || id, so the key of one record is never a prefix of another's
// and Erase can hand Badger's DropPrefix the exact keys of one record.
//
//	'e' id → entry     (JSON, small: stays in Badger's LSM tree)
//	'c' id → wrapped   (the record ciphertext under the entry's wrap key)
//	't' id → tombstone (JSON; present once the record is erased)
//	'm' name → the vault's own bookkeeping (keyShreddedThrough)
const (
	prefixEntry     byte = 'e'
	prefixWrapped   byte = 'c'
	prefixTombstone byte = 't'
	prefixMeta      byte = 'm'
)

// keyShreddedThrough holds the chain height (8 bytes, big endian) up to
// which every erasure of this vault's records is shredded.
var keyShreddedThrough = []byte{prefixMeta, 's', 'h', 'r', 'e', 'd'}

func recordKey(prefix byte, id []byte) []byte {
	k := make([]byte, 3, 3+len(id))
	k[0] = prefix
	binary.BigEndian.PutUint16(k[1:], uint16(len(id)))
	return append(k, id...)
}

// parseRecordKey returns the id of a record key with this prefix, or false.
func parseRecordKey(prefix byte, key []byte) ([]byte, bool) {
	if len(key) < 3 || key[0] != prefix {
		return nil, false
	}
	n := int(binary.BigEndian.Uint16(key[1:3]))
	if n == 0 || len(key) != 3+n {
		return nil, false
	}
	return bytes.Clone(key[3:]), true
}

// entry is what the vault knows of a stored record, besides its ciphertext.
// WrapKey is a random AES-256 key, unique to the record, that encrypts the
// ciphertext inside Badger (see Erase for why).
type entry struct {
	Version     int    `json:"v"`
	WrapKey     []byte `json:"wrap_key"`
	ContentHash []byte `json:"content_hash"`
	SealedKey   []byte `json:"sealed_key"`
	Size        int    `json:"size"`
}

const entryVersion = 1

// tombstone is what remains of an erased record: the evidence that it was
// erased and the hash of the ciphertext it had (none if the vault never held
// it). Shredded says whether Erase proved the record's keys gone from every
// Badger level.
type tombstone struct {
	Erased      bool      `json:"erased"`
	ContentHash []byte    `json:"content_hash,omitempty"`
	ErasedAt    time.Time `json:"erased_at"`
	Shredded    bool      `json:"shredded"`
}

// decodeEntry parses and checks a stored entry; it never panics.
func decodeEntry(b []byte) (*entry, error) {
	var e entry
	if err := strictjson.Decode(b, &e); err != nil {
		return nil, fmt.Errorf("%w: entry: %v", ErrCorrupt, err)
	}
	switch {
	case e.Version != entryVersion:
		return nil, fmt.Errorf("%w: entry version %d, want %d", ErrCorrupt, e.Version, entryVersion)
	case len(e.WrapKey) != recordcrypto.KeySize:
		return nil, fmt.Errorf("%w: entry wrap key has %d bytes", ErrCorrupt, len(e.WrapKey))
	case len(e.ContentHash) != 32:
		return nil, fmt.Errorf("%w: entry content hash has %d bytes", ErrCorrupt, len(e.ContentHash))
	case len(e.SealedKey) != recordcrypto.SealedKeySize:
		return nil, fmt.Errorf("%w: entry sealed key has %d bytes", ErrCorrupt, len(e.SealedKey))
	case e.Size < recordcrypto.RecordOverhead || e.Size > MaxCiphertextSize:
		return nil, fmt.Errorf("%w: entry size %d", ErrCorrupt, e.Size)
	}
	return &e, nil
}

// decodeTombstone parses and checks a stored tombstone; it never panics.
func decodeTombstone(b []byte) (*tombstone, error) {
	var t tombstone
	if err := strictjson.Decode(b, &t); err != nil {
		return nil, fmt.Errorf("%w: tombstone: %v", ErrCorrupt, err)
	}
	if !t.Erased || (len(t.ContentHash) != 0 && len(t.ContentHash) != 32) {
		return nil, fmt.Errorf("%w: tombstone is not a valid erasure", ErrCorrupt)
	}
	return &t, nil
}
