// Package query is medchain's research query language: the canonical,
// structured form stored on chain (pb.Query), its SQL-like text (Parse and
// Format, for the CLI and for people), the rules a query must satisfy to be
// answerable (Validate, run by the CLI and again by the contract), and the
// slot layout of the packed vector every hospital fills (Layout). It is
// pure and deterministic: the contract may call every function here.
package query
