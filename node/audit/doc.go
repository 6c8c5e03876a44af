// Package audit is the auditor's toolkit, needing nothing but a copy of a
// chain (a stopped node's home, or a node's RPC). Replay re-executes every
// block from genesis in a fresh, temporary state, checks each block's hash
// chain, data hash and signatures and that the app hash after every height
// is the one the next header commits, and names the first height (and tx)
// that is wrong. BuildReport lists, from the replayed state and events,
// who accessed what, refusals, break-glass reviews, queries and budgets,
// and governance. Evidence.Verify checks one entry's inclusion proof
// against a signed header, offline.
package audit
