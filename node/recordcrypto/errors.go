package recordcrypto

import "errors"

// Errors the package returns, wrapped with context; test with errors.Is.
var (
	// ErrAuthentication: a ciphertext or sealed key does not open — wrong
	// key, wrong record id, wrong recipient, or altered bytes. Which one is
	// deliberately not said: AEADs cannot tell them apart.
	ErrAuthentication = errors.New("authentication failed")
	// ErrMalformed: the input has the wrong size or shape to be a
	// ciphertext or sealed key at all.
	ErrMalformed = errors.New("malformed")
	// ErrRecordID: the record id is empty or longer than MaxRecordIDSize.
	ErrRecordID = errors.New("invalid record id")
)
