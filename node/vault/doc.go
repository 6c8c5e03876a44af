// Package vault is a hospital's private record store: the ciphertexts of the
// records it is custodian of and its sealed copies of their data keys, in a
// Badger database of its own (<home>/data/vault, encrypted at rest with the
// key in <home>/config/vault_key) that never leaves the hospital. Erase
// crypto-shreds a record. The package also keeps the alliance pepper file.
package vault
