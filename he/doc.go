// Package he is the only medchain package that imports Lattigo
// (github.com/tuneinsight/lattigo/v6; the design card named v5, whose own
// go.mod declares it deprecated in favour of v6 — same API, `mhe` became
// `multiparty`). It holds the alliance's homomorphic-encryption parameters
// and, as the research-query issues land, collective key generation,
// threshold decryption, encoding, aggregation and key switching.
package he
