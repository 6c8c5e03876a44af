package keyring

import "errors"

// Sentinel errors. Every error returned by this package that has one of these
// causes wraps it, so callers test with errors.Is. No error message ever holds
// a passphrase or secret key material.
var (
	// ErrKeyNotFound: no key file with that name in the keyring.
	ErrKeyNotFound = errors.New("keyring: key not found")
	// ErrKeyExists: Add or an import would overwrite an existing key.
	ErrKeyExists = errors.New("keyring: a key with this name already exists")
	// ErrInvalidName: the name does not match [a-z0-9][a-z0-9._-]{0,63}.
	ErrInvalidName = errors.New("keyring: invalid key name")
	// ErrWrongPassphrase: decryption failed. With a correct passphrase this
	// means the key file or export was altered.
	ErrWrongPassphrase = errors.New("keyring: wrong passphrase")
	// ErrWeakPassphrase: a new passphrase is shorter than 8 characters.
	ErrWeakPassphrase = errors.New("keyring: passphrase must be at least 8 characters")
	// ErrBackendMismatch: the key file was written by the other backend.
	ErrBackendMismatch = errors.New("keyring: key was written by a different keyring backend")
	// ErrInsecurePermissions: a key file is accessible to group or others, or
	// the keyring directory is writable by group or others.
	ErrInsecurePermissions = errors.New("keyring: insecure permissions")
	// ErrInvalidKeyFile: a key file is malformed, or does not belong where it is.
	ErrInvalidKeyFile = errors.New("keyring: invalid key file")
	// ErrInvalidExport: data given to Import is not a valid key export.
	ErrInvalidExport = errors.New("keyring: invalid key export")
	// ErrInvalidAddress: ParseAddress rejected its input.
	ErrInvalidAddress = errors.New("invalid address")
)

// Sentinel errors of sealed data (SealData, OpenData).
var (
	// ErrDataNotFound: no secret file with that name in the keyring.
	ErrDataNotFound = errors.New("keyring: data not found")
	// ErrDataExists: SealData would overwrite an existing secret.
	ErrDataExists = errors.New("keyring: data with this name already exists")
	// ErrInvalidDataFile: a secret file is malformed, or does not belong where it is.
	ErrInvalidDataFile = errors.New("keyring: invalid data file")
)
