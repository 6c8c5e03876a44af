// Package research is the contract of encrypted aggregate queries: a
// researcher submits a query (contracts/query) with its HE key and the
// privacy budget it spends; each member hospital contributes its figures
// and its cohort count, each encrypted under the collective key; the
// contract sums them homomorphically, has the members decrypt the noised
// cohort count in public, and — if the cohort is large enough — has them
// switch the result to the researcher's key (contracts/hekeys one-shot
// requests). Every step is an event; the budget is a ledger in state.
package research
