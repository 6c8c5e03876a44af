package vault

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"

	"github.com/medchain/medchain/node/recordcrypto"
)

const (
	// MaxCiphertextSize bounds one record ciphertext the vault stores.
	MaxCiphertextSize = 16 << 20

	// Badger tuning: a vault is small and shares the box with the node's
	// state store; about 30 MiB of memory.
	memTableSize = 8 << 20
	numMemtables = 2
	// valueThreshold: values at least this big go to the value log. Entries
	// (about 300 bytes) must stay below it, in the LSM tree, where
	// DropPrefix can physically remove them (see Erase).
	valueThreshold   = 1 << 10
	blockCacheSize   = 8 << 20
	indexCacheSize   = 4 << 20 // Badger needs an index cache with encryption
	valueLogFileSize = 64 << 20
	numCompactors    = 2 // Badger's minimum
	// gcRounds bounds the value-log GC Erase runs; gcDiscardRatio is the
	// share of dead bytes that makes a value-log file worth rewriting.
	gcRounds       = 4
	gcDiscardRatio = 0.5

	wrapDomain = "medchain/vault/wrap/v1\x00"
)

// Logger receives the vault's warnings and errors (Badger's, and failed
// best-effort clean-ups). Nothing it receives holds a secret or record bytes.
// CometBFT's and the state store's loggers satisfy it.
type Logger interface {
	Info(msg string, keyvals ...any)
	Error(msg string, keyvals ...any)
}

type nopLogger struct{}

func (nopLogger) Info(string, ...any)  {}
func (nopLogger) Error(string, ...any) {}

// badgerLogger routes Badger's warnings and errors to ours and drops its
// info and debug lines (which quote keys, such as DropPrefix's prefixes).
type badgerLogger struct{ lg Logger }

func (l badgerLogger) Errorf(f string, a ...any) {
	l.lg.Error("vault badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (l badgerLogger) Warningf(f string, a ...any) {
	l.lg.Info("vault badger warning: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}

// Option configures Open.
type Option func(*Vault)

// WithLogger sends the vault's warnings and errors to lg (default: dropped).
func WithLogger(lg Logger) Option {
	return func(v *Vault) {
		if lg != nil {
			v.lg = lg
		}
	}
}

// Vault is an open vault. It is safe for concurrent use; Put and Erase are
// serialised.
type Vault struct {
	db  *badger.DB
	dir string
	lg  Logger

	// life is held shared by every operation and exclusively by Close.
	life   sync.RWMutex
	closed bool
	// write serialises Put and Erase: both check, then write.
	write sync.Mutex
}

func badgerOptions(dir string, key []byte, lg Logger) badger.Options {
	return badger.DefaultOptions(dir).
		WithEncryptionKey(key).
		WithSyncWrites(true).
		WithLogger(badgerLogger{lg}).
		WithMemTableSize(memTableSize).
		WithNumMemtables(numMemtables).
		WithValueThreshold(valueThreshold).
		WithBlockCacheSize(blockCacheSize).
		WithIndexCacheSize(indexCacheSize).
		WithValueLogFileSize(valueLogFileSize).
		WithNumCompactors(numCompactors).
		WithNumGoroutines(2).
		// Ciphertext does not compress.
		WithCompression(options.None).
		WithMetricsEnabled(false).
		// Writers are serialised by Vault.write.
		WithDetectConflicts(false)
}

// Open opens (creating if needed) the vault of home, Dir(home), with the key
// in VaultKeyPath(home), which must exist (EnsureKeys) with mode 0600. It
// fails with ErrKey if the key is missing, too widely readable or does not
// match the vault, and when another process has the vault open. It resumes
// any erasure a crash interrupted.
func Open(home string, opts ...Option) (*Vault, error) {
	v := &Vault{dir: Dir(home), lg: nopLogger{}}
	for _, o := range opts {
		o(v)
	}
	key, err := loadVaultKey(home)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(v.dir, 0o700); err != nil {
		return nil, fmt.Errorf("create %s: %w", v.dir, err)
	}
	db, err := badger.Open(badgerOptions(v.dir, key, v.lg))
	switch {
	case err == nil:
	case errors.Is(err, badger.ErrEncryptionKeyMismatch) || strings.Contains(err.Error(), badger.ErrEncryptionKeyMismatch.Error()):
		return nil, fmt.Errorf("%w: vault key does not match the vault in %s (was %s replaced?)", ErrKey, v.dir, VaultKeyPath(home))
	case strings.Contains(err.Error(), "Cannot acquire directory lock"):
		return nil, fmt.Errorf("vault %s is in use by another process (is a medchain node already running on this home?): %w", v.dir, err)
	default:
		return nil, fmt.Errorf("open vault %s: %w", v.dir, err)
	}
	v.db = db
	if err := v.resumeShredding(); err != nil {
		_ = db.Close()
		return nil, err
	}
	return v, nil
}

// Close closes the vault; later calls return ErrClosed.
func (v *Vault) Close() error {
	v.life.Lock()
	defer v.life.Unlock()
	if v.closed {
		return nil
	}
	v.closed = true
	if err := v.db.Close(); err != nil {
		return fmt.Errorf("close vault %s: %w", v.dir, err)
	}
	return nil
}

// use takes the vault for one operation; the caller must call the returned
// release.
func (v *Vault) use() (release func(), err error) {
	v.life.RLock()
	if v.closed {
		v.life.RUnlock()
		return nil, ErrClosed
	}
	return v.life.RUnlock, nil
}

func checkRecordID(id []byte) error {
	if len(id) == 0 || len(id) > recordcrypto.MaxRecordIDSize {
		return fmt.Errorf("%w: record id has %d bytes, want 1 to %d", ErrInvalid, len(id), recordcrypto.MaxRecordIDSize)
	}
	return nil
}

// Put stores a record: its ciphertext (recordcrypto.EncryptRecord's output,
// RecordOverhead to MaxCiphertextSize bytes) and the custodian's copy of its
// data key (recordcrypto.SealKey's output). Storing the same ciphertext and
// sealed key again is a no-op, so a relay may retry; it returns ErrConflict
// if the vault holds the id with anything else, and ErrErased if the id was
// erased. Put returns once the record is synced to disk.
func (v *Vault) Put(recordID []byte, ciphertext []byte, custodianSealedKey []byte) error {
	if err := checkRecordID(recordID); err != nil {
		return err
	}
	if len(ciphertext) < recordcrypto.RecordOverhead || len(ciphertext) > MaxCiphertextSize {
		return fmt.Errorf("%w: ciphertext has %d bytes, want %d to %d", ErrInvalid, len(ciphertext), recordcrypto.RecordOverhead, MaxCiphertextSize)
	}
	if len(custodianSealedKey) != recordcrypto.SealedKeySize {
		return fmt.Errorf("%w: sealed key has %d bytes, want %d", ErrInvalid, len(custodianSealedKey), recordcrypto.SealedKeySize)
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.write.Lock()
	defer v.write.Unlock()

	hash := recordcrypto.ContentHash(ciphertext)
	err = v.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(recordKey(prefixTombstone, recordID)); err == nil {
			return fmt.Errorf("vault: record %q: %w; its id cannot be reused", recordID, ErrErased)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		e, err := getEntry(txn, recordID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		if bytes.Equal(e.ContentHash, hash[:]) && bytes.Equal(e.SealedKey, custodianSealedKey) {
			return errUnchanged
		}
		return fmt.Errorf("vault: record %q: %w", recordID, ErrConflict)
	})
	if errors.Is(err, errUnchanged) {
		return nil
	}
	if err != nil {
		return err
	}

	wrapKey, err := recordcrypto.NewDataKey()
	if err != nil {
		return err
	}
	wrapped, err := wrap(wrapKey, recordID, ciphertext)
	if err != nil {
		return err
	}
	ej, err := json.Marshal(entry{
		Version:     entryVersion,
		WrapKey:     wrapKey[:],
		ContentHash: hash[:],
		SealedKey:   custodianSealedKey,
		Size:        len(ciphertext),
	})
	if err != nil {
		return fmt.Errorf("vault: encode entry: %w", err)
	}
	err = v.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(recordKey(prefixWrapped, recordID), wrapped); err != nil {
			return err
		}
		return txn.Set(recordKey(prefixEntry, recordID), ej)
	})
	if err != nil {
		return fmt.Errorf("vault: put record %q: %w", recordID, err)
	}
	return nil
}

var errUnchanged = errors.New("unchanged")

// getEntry reads the entry of id in txn, or ErrNotFound.
func getEntry(txn *badger.Txn, id []byte) (*entry, error) {
	item, err := txn.Get(recordKey(prefixEntry, id))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, fmt.Errorf("vault: record %q: %w", id, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	b, err := item.ValueCopy(nil)
	if err != nil {
		return nil, err
	}
	return decodeEntry(b)
}

// Get returns a record's ciphertext and the custodian's sealed copy of its
// data key. It returns ErrErased for an erased record and ErrNotFound for
// one the vault never held.
func (v *Vault) Get(recordID []byte) (ciphertext, sealedKey []byte, err error) {
	if err := checkRecordID(recordID); err != nil {
		return nil, nil, err
	}
	release, err := v.use()
	if err != nil {
		return nil, nil, err
	}
	defer release()
	err = v.db.View(func(txn *badger.Txn) error {
		if _, err := txn.Get(recordKey(prefixTombstone, recordID)); err == nil {
			return fmt.Errorf("vault: record %q: %w", recordID, ErrErased)
		} else if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		e, err := getEntry(txn, recordID)
		if err != nil {
			return err
		}
		item, err := txn.Get(recordKey(prefixWrapped, recordID))
		if err != nil {
			return fmt.Errorf("%w: record %q has an entry but no ciphertext: %v", ErrCorrupt, recordID, err)
		}
		w, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		ciphertext, err = unwrap([recordcrypto.KeySize]byte(e.WrapKey), recordID, w)
		if err != nil {
			return err
		}
		sealedKey = e.SealedKey
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return ciphertext, sealedKey, nil
}

// List returns the ids of the records the vault holds (not the erased ones),
// in byte order.
func (v *Vault) List() ([][]byte, error) {
	release, err := v.use()
	if err != nil {
		return nil, err
	}
	defer release()
	var ids [][]byte
	err = v.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.PrefetchValues = false
		o.Prefix = []byte{prefixEntry}
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			if id, ok := parseRecordKey(prefixEntry, it.Item().Key()); ok {
				ids = append(ids, id)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("vault: list: %w", err)
	}
	slices.SortFunc(ids, bytes.Compare)
	return ids, nil
}

// ErrBadMark: the vault's shredding mark is unreadable; treat the vault as
// unmarked (check every record) and write a new mark.
var ErrBadMark = errors.New("the shredding mark is not an 8-byte height")

// ShreddedThrough returns the chain height up to which every erasure of
// the vault's records has been shredded, as last recorded by
// SetShreddedThrough; 0 if never. The mark lives in the vault itself, so a
// vault restored from a backup brings back its own, older mark and the
// erasures made since are shredded again.
func (v *Vault) ShreddedThrough() (int64, error) {
	release, err := v.use()
	if err != nil {
		return 0, err
	}
	defer release()
	var h int64
	err = v.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(keyShreddedThrough)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			if len(b) != 8 || int64(binary.BigEndian.Uint64(b)) < 0 {
				return fmt.Errorf("%w (%d bytes: %x)", ErrBadMark, len(b), b)
			}
			h = int64(binary.BigEndian.Uint64(b))
			return nil
		})
	})
	if err != nil {
		return 0, fmt.Errorf("vault: shredding mark: %w", err)
	}
	return h, nil
}

// SetShreddedThrough records that every erasure up to height is shredded.
// The caller must have shredded them first; a lost write only makes the
// next start check more.
func (v *Vault) SetShreddedThrough(height int64) error {
	if height < 0 {
		return fmt.Errorf("vault: shredding mark: negative height %d", height)
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(height))
	if err := v.db.Update(func(txn *badger.Txn) error { return txn.Set(keyShreddedThrough, b[:]) }); err != nil {
		return fmt.Errorf("vault: shredding mark: %w", err)
	}
	return nil
}

// Erase crypto-shreds a record: from then on Get answers ErrErased, Put of
// the id is refused, and the vault's copies of the ciphertext and of the
// custodian's sealed data key are destroyed. It writes a tombstone (the
// evidence: erased, the ciphertext's content hash, when) even for an id the
// vault never held, so that a late Put cannot bring the record back. Erasing
// again is a no-op.
//
// What is destroyed, and how far Badger guarantees it:
//
//   - The entry (wrap key, sealed key, hash) is below the value threshold, so
//     it lives only in Badger's LSM tree: the memtable's write-ahead log and
//     SST files. Erase calls DropPrefix on the record's keys, which flushes
//     the memtables without them (deleting their write-ahead logs) and
//     rewrites every SST holding any version of them; Erase then checks,
//     with an all-versions iterator, that no version is left, and only then
//     marks the tombstone shredded. If the check fails Erase returns
//     ErrShredPending and Open retries.
//   - The ciphertext is stored wrapped under the entry's wrap key, a random
//     key of its own. A large one sits in Badger's value log, which Badger
//     rewrites only during value-log GC, never for the file being written;
//     Erase runs a few rounds of GC, best effort. Bytes the GC has not
//     reached yet stay in a value-log file, but their only key is gone, so
//     they can no longer be decrypted, even with the vault key.
//   - Everything Badger writes is encrypted at rest (AES-256, data keys
//     under the vault key), so no vault file ever holds a ciphertext, a
//     sealed key or a wrap key in clear.
//   - Badger deletes files; it does not overwrite them. Blocks of deleted
//     files stay on the disk until the filesystem reuses them — encrypted,
//     as above. The on-chain sealed keys and content hash are not the
//     vault's to erase: without the ciphertext they open nothing.
func (v *Vault) Erase(recordID []byte) error {
	if err := checkRecordID(recordID); err != nil {
		return err
	}
	release, err := v.use()
	if err != nil {
		return err
	}
	defer release()
	v.write.Lock()
	defer v.write.Unlock()

	var t *tombstone
	err = v.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(recordKey(prefixTombstone, recordID))
		if err == nil {
			b, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			t, err = decodeTombstone(b)
			return err
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return err
		}
		t = &tombstone{Erased: true, ErasedAt: time.Now().UTC()}
		e, err := getEntry(txn, recordID)
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		t.ContentHash = e.ContentHash
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault: erase record %q: %w", recordID, err)
	}
	if t.Shredded {
		return nil
	}
	if err := v.putTombstone(recordID, t); err != nil {
		return err
	}
	return v.shred(recordID, t)
}

func (v *Vault) putTombstone(id []byte, t *tombstone) error {
	tj, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("vault: encode tombstone: %w", err)
	}
	if err := v.db.Update(func(txn *badger.Txn) error {
		return txn.Set(recordKey(prefixTombstone, id), tj)
	}); err != nil {
		return fmt.Errorf("vault: erase record %q: write tombstone: %w", id, err)
	}
	return nil
}

// shred drops every version of the record's keys, checks they are gone,
// marks the tombstone shredded and runs value-log GC. The caller holds
// v.write.
func (v *Vault) shred(id []byte, t *tombstone) error {
	prefixes := [][]byte{recordKey(prefixEntry, id), recordKey(prefixWrapped, id)}
	if err := v.db.DropPrefix(prefixes...); err != nil {
		return fmt.Errorf("vault: record %q is erased but %w: drop its keys: %v", id, ErrShredPending, err)
	}
	left, err := v.versionsLeft(prefixes)
	if err != nil {
		return fmt.Errorf("vault: record %q is erased but %w: check: %v", id, ErrShredPending, err)
	}
	if left > 0 {
		return fmt.Errorf("vault: record %q is erased but %w: %d versions of its keys are left", id, ErrShredPending, left)
	}
	t.Shredded = true
	if err := v.putTombstone(id, t); err != nil {
		return err
	}
	v.collectValueLog()
	return nil
}

// versionsLeft counts every version (delete markers included) of the keys
// under prefixes, across the memtables and all levels.
func (v *Vault) versionsLeft(prefixes [][]byte) (int, error) {
	n := 0
	err := v.db.View(func(txn *badger.Txn) error {
		for _, p := range prefixes {
			o := badger.DefaultIteratorOptions
			o.AllVersions = true
			o.PrefetchValues = false
			o.Prefix = p
			it := txn.NewIterator(o)
			for it.Rewind(); it.Valid(); it.Next() {
				n++
			}
			it.Close()
		}
		return nil
	})
	return n, err
}

// collectValueLog runs a few rounds of Badger's value-log GC, best effort.
func (v *Vault) collectValueLog() {
	for range gcRounds {
		err := v.db.RunValueLogGC(gcDiscardRatio)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			v.lg.Error("vault: value-log GC after an erasure failed", "err", err)
		}
		return
	}
}

// resumeShredding finishes the erasures a crash interrupted: tombstones not
// yet marked shredded. A shred that still cannot be proven is logged, not
// fatal: the record already answers ErrErased.
func (v *Vault) resumeShredding() error {
	type pending struct {
		id []byte
		t  *tombstone
	}
	var todo []pending
	err := v.db.View(func(txn *badger.Txn) error {
		o := badger.DefaultIteratorOptions
		o.Prefix = []byte{prefixTombstone}
		it := txn.NewIterator(o)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			id, ok := parseRecordKey(prefixTombstone, it.Item().Key())
			if !ok {
				continue
			}
			b, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			t, err := decodeTombstone(b)
			if err != nil {
				return fmt.Errorf("tombstone of %q: %w", id, err)
			}
			if !t.Shredded {
				todo = append(todo, pending{id, t})
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("vault %s: read tombstones: %w", v.dir, err)
	}
	v.write.Lock()
	defer v.write.Unlock()
	for _, p := range todo {
		if err := v.shred(p.id, p.t); err != nil {
			if errors.Is(err, ErrShredPending) {
				v.lg.Error("vault: resuming an interrupted erasure", "err", err)
				continue
			}
			return err
		}
	}
	return nil
}

// wrap encrypts a ciphertext for storage under its record's wrap key with
// AES-256-GCM: nonce || sealed || tag, the record id as associated data.
func wrap(key [recordcrypto.KeySize]byte, id, ciphertext []byte) ([]byte, error) {
	gcm := newGCM(key)
	out := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(ciphertext)+gcm.Overhead())
	if _, err := rand.Read(out); err != nil {
		return nil, fmt.Errorf("vault: nonce: %w", err)
	}
	return gcm.Seal(out, out, ciphertext, wrapAAD(id)), nil
}

func unwrap(key [recordcrypto.KeySize]byte, id, wrapped []byte) ([]byte, error) {
	gcm := newGCM(key)
	if len(wrapped) < gcm.NonceSize()+gcm.Overhead() {
		return nil, fmt.Errorf("%w: record %q: stored ciphertext is %d bytes", ErrCorrupt, id, len(wrapped))
	}
	ct, err := gcm.Open(nil, wrapped[:gcm.NonceSize()], wrapped[gcm.NonceSize():], wrapAAD(id))
	if err != nil {
		return nil, fmt.Errorf("%w: record %q: stored ciphertext does not authenticate", ErrCorrupt, id)
	}
	return ct, nil
}

func wrapAAD(id []byte) []byte {
	return append([]byte(wrapDomain), id...)
}

func newGCM(key [recordcrypto.KeySize]byte) cipher.AEAD {
	block, err := aes.NewCipher(key[:])
	if err != nil {
		// Invariant: a 32-byte key is always a valid AES-256 key.
		panic("vault: aes.NewCipher rejected a 32-byte key: " + err.Error())
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		// Invariant: NewGCM always accepts AES.
		panic("vault: cipher.NewGCM rejected AES: " + err.Error())
	}
	return gcm
}
