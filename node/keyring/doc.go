// Package keyring is the local store of account keys behind
// `medchain keys add|list|show|delete|export|import`.
//
// Each key is one JSON file <name>.key in a 0700 directory: name, public key
// and address in clear, the ed25519 seed sealed with XChaCha20-Poly1305 under
// an Argon2id key derived from a passphrase, every clear field bound as
// associated data. AddressOf defines the account address all of medchain uses.
//
// SealData and OpenData keep other secrets the same way, one <name>.secret
// file each (a node worker's multiparty key shares, for instance), written
// once and never overwritten.
package keyring
