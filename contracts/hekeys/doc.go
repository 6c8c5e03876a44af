// Package hekeys is the contract of the alliance's collective HE key and of
// one-shot decryption requests.
//
// Key ceremony (epoch 1, opened at genesis), commit then reveal: every
// member first commits, with "he.key_commit", to the SHA-256 of its
// collective-key share. Once all members have committed, each posts
// "he.key_share": that share, which must match its commitment, and one
// Shamir share of its secret sealed to each other member. The commitments
// stop the last member to post from choosing its share from the others'
// (a rogue key that would be its own). When all members have posted, the
// contract aggregates the collective public key — deterministically, in
// FinalizeBlock — and marks the epoch ready.
//
// Decryption requests: a researcher asks ("he.request") for the sum of
// stored ciphertexts, key-switched to its own HE key. The contract adds the
// ciphertexts, refuses a sum whose mask was ever released before, and fixes
// an ordered active set of exactly t live members (validators that signed
// the previous block). Each posts one "he.ks_share"; with t shares the
// contract key-switches and stores the result. A request whose set does not
// answer by its deadline fails for good: it is never retried on the same
// ciphertext (Lattigo's multiparty protocols are insecure on retries).
//
// Blobs (shares, keys, ciphertexts) are content-addressed: state keeps the
// bytes once under their SHA-256, records keep hashes.
package hekeys
