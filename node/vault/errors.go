package vault

import "errors"

// Errors the package returns, wrapped with context; test with errors.Is.
var (
	// ErrNotFound: the vault has never held this record.
	ErrNotFound = errors.New("record not in the vault")
	// ErrErased: the record was erased (crypto-shredded); it is gone for good.
	ErrErased = errors.New("record erased")
	// ErrConflict: Put of a record id the vault already holds with another
	// ciphertext or sealed key.
	ErrConflict = errors.New("record already in the vault with different content")
	// ErrInvalid: a record id, ciphertext or sealed key of the wrong size.
	ErrInvalid = errors.New("invalid vault input")
	// ErrKey: the vault key or pepper file is missing, malformed, too widely
	// readable, or does not match the vault.
	ErrKey = errors.New("vault secret")
	// ErrCorrupt: a vault entry does not decode or does not authenticate.
	ErrCorrupt = errors.New("vault entry corrupt")
	// ErrShredPending: Erase marked the record erased but could not yet
	// prove its bytes physically dropped; Open and Erase retry.
	ErrShredPending = errors.New("record erased but not yet shredded")
	// ErrClosed: the vault was closed.
	ErrClosed = errors.New("vault closed")
)
