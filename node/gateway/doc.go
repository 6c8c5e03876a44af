// Package gateway is a custodian hospital's HTTPS gateway: it serves a
// record's ciphertext (and, for break-glass, its data key re-sealed to the
// reader) to the doctor of a committed access entry, on a request that
// doctor signed; Fetch is its pinned TLS 1.3 client. The Service also
// publishes the gateway on chain and runs the erasure Shredder.
package gateway
