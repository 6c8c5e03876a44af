// Package contracts holds medchain's deterministic rules: the framework every
// contract uses (Context, KVStore, Handler, Router, the per-tx cache) and,
// in sub-packages, the contracts themselves.
//
// A contract is plain Go: a function of (state, tx, block context) that
// returns state writes, events and an error. It never reads the clock, the
// network, the disk outside the state store or a random source, and never
// lets map iteration decide an order. Block time comes from the header.
package contracts
