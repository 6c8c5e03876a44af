// Package hework is a hospital node's worker for the alliance's multiparty
// key: it commits to the member's collective-key share, posts the share
// and its sealed Shamir shares for the key ceremony once every member has
// committed, combines the shares it receives into its
// t-of-N threshold secret, and posts one key-switching share for every
// decryption request whose active set names it.
//
// Retries of multiparty protocols are insecure, so everything the worker
// generates is sealed in the keyring (keyring.SealData) before it is sent,
// and after a restart it sends the same bytes again, never new ones.
// `medchain start` runs one Worker next to the node (node.Run).
package hework
