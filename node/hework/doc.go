// Package hework is a hospital node's worker for the alliance's multiparty
// key: in every key epoch its hospital is a member of, it commits to the
// member's collective-key share, posts the share and its sealed Shamir
// shares once every member has committed, and combines the shares it
// receives into its t-of-N threshold secret of that epoch; it posts one
// key-switching share for every decryption request whose active set names
// it, with the secret of the request's epoch. Before its hospital is
// admitted, and after it is removed, it waits quietly.
//
// Retries of multiparty protocols are insecure, so everything the worker
// generates is sealed in the keyring (keyring.SealData) before it is sent,
// and after a restart it sends the same bytes again, never new ones.
// `medchain start` runs one Worker next to the node (node.Run).
package hework
