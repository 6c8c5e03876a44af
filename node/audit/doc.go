// Package audit is the auditor's replay: with nothing but a copy of a chain
// (a stopped node's home, or a node's RPC) it re-executes every block from
// genesis in a fresh, temporary state, checks each block's hash chain, data
// hash and signatures and that the app hash after every height is the one
// the next header commits, and names the first height (and tx) that is wrong.
package audit
