// Package chainrpc is the one adapter from a node's services (the HE
// worker, the gateway, the ingest push phase) to CometBFT's RPC client:
// committed state queries, broadcast_tx_sync, the tx index, the node's
// status, erasure events in block results and new-block wake-ups. Each
// service declares the small interface it consumes; Chain satisfies them all.
package chainrpc
