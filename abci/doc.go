// Package abci is medchain's ABCI 2.0 application: it decodes and
// authenticates every tx (envelope, signature, chain id, signer, nonce),
// routes it to its contract, commits state to an IAVL tree on Badger and
// answers queries, with ICS23 proofs against the app hash.
//
// CometBFT drives it through a local client that serialises every call, so
// CheckTx and Query must stay cheap. The app is deterministic: FinalizeBlock
// reads nothing but the block and the state store.
package abci
