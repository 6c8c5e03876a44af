// Package accounts is the contract of accounts, member hospitals and
// alliance parameters: who exists on the chain, with which key and role,
// and the per-account sequence that orders and de-duplicates their txs.
//
// Txs: "account.register" (a hospital operator enrols a doctor or patient of
// its own hospital). Genesis writes the founding hospitals, their operators,
// initial researchers and auditors, and the parameters.
package accounts
