// Package tx is the signed envelope every medchain transaction travels in:
// encoding it (clients), decoding and checking it (the ABCI app).
//
// A Tx carries the TxBody bytes exactly as the signer produced them and an
// ed25519 signature over SignBytes(body). Verifiers never re-encode: they
// check the signature over the bytes they received. Decoding is strict:
// unknown fields, empty required fields and oversized input are refused with
// a sentinel error that the ABCI code table maps to a stable code.
package tx
