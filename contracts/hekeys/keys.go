package hekeys

import "encoding/binary"

// State keys of this contract.
const (
	prefixEpoch    = 0x20 // epoch(8) → KeyEpoch
	prefixKeyShare = 0x21 // epoch(8) dealer(8) → KeyShareRecord
	prefixCipher   = 0x22 // hash(32) → CiphertextRecord
	prefixRequest  = 0x23 // id(8) → DecryptionRequest
	prefixPending  = 0x24 // deadline(8) id(8) → id(8): pending requests by deadline
	prefixReleased = 0x25 // mask digest(32) → request id(8): masks ever released
	prefixNextID   = 0x26 // → next request id(8)
	prefixKSShare  = 0x27 // id(8) member(8) → share blob hash
	prefixCommit   = 0x28 // epoch(8) dealer(8) → SHA-256(public_key_share), 32 bytes
	prefixBlob     = 0x30 // sha256(32) → blob bytes
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

// EpochKey is the state key of key epoch e.
func EpochKey(e uint64) []byte { return u64([]byte{prefixEpoch}, e) }

// KeyShareKey is the state key of dealer's share record in epoch e.
func KeyShareKey(e, dealer uint64) []byte { return u64(u64([]byte{prefixKeyShare}, e), dealer) }

// CommitKey is the state key of dealer's commitment in epoch e: the
// SHA-256 of the public-key share it must post.
func CommitKey(e, dealer uint64) []byte { return u64(u64([]byte{prefixCommit}, e), dealer) }

// CiphertextKey is the state key of a submitted ciphertext's record.
func CiphertextKey(hash []byte) []byte { return append([]byte{prefixCipher}, hash...) }

// RequestKey is the state key of decryption request id.
func RequestKey(id uint64) []byte { return u64([]byte{prefixRequest}, id) }

func pendingKey(deadline int64, id uint64) []byte {
	return u64(u64([]byte{prefixPending}, uint64(deadline)), id)
}

func releasedKey(mask [32]byte) []byte { return append([]byte{prefixReleased}, mask[:]...) }

func nextIDKey() []byte { return []byte{prefixNextID} }

func ksShareKey(id, member uint64) []byte { return u64(u64([]byte{prefixKSShare}, id), member) }

// BlobKey is the state key of a blob with the given SHA-256.
func BlobKey(hash []byte) []byte { return append([]byte{prefixBlob}, hash...) }

// RequestPrefix bounds the range of all request records.
func RequestPrefix() (start, end []byte) { return []byte{prefixRequest}, []byte{prefixRequest + 1} }

// PendingPrefix bounds the range of the pending index.
func PendingPrefix() (start, end []byte) { return []byte{prefixPending}, []byte{prefixPending + 1} }
