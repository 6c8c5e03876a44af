// Package he is medchain's homomorphic encryption, and the only package
// that imports Lattigo (github.com/tuneinsight/lattigo/v6, BGV and its
// multiparty protocols). Hospitals hold the key jointly, t of N of them can
// switch an encrypted sum to one researcher, and every object crosses the
// API as a []byte blob, an []int64 or a small opaque struct.
//
// Where each call runs:
//
//   - Node workers (randomised, never in FinalizeBlock): GenSecretShare,
//     GenPublicKeyShare, GenThresholdShares, CombineThresholdShares,
//     EncodeEncrypt, GenKeySwitchShare, GenDecryptShare.
//   - The contract, in FinalizeBlock (deterministic: byte-identical results
//     on every node, whatever the order of shares or GOMAXPROCS): the
//     Validate* functions, CRPSeed, AggregatePublicKey, Add, KeySwitch,
//     DecryptPublic, MaskDigest.
//   - The researcher: GenResearcherKey, Decrypt.
//
// Every blob from a tx must pass its Validate* function before anything
// else touches it; the deterministic functions also validate their inputs
// themselves. Lattigo's own decoders are unsafe on hostile bytes (see
// wire.go), so the validators compare each blob with a canonical template
// for the pinned parameters and check every coefficient against its
// modulus before Lattigo sees it.
//
// Retries are insecure (Lattigo SECURITY.md): a member produces at most one
// collective-key share per key epoch and at most one key-switching or
// decryption share per ciphertext, for the active set the chain fixed. The
// node stores what it produced and resends the same bytes; the chain never
// starts a second release of a ciphertext, or of one with the same mask
// (MaskDigest). FLOODING.md explains the noise flooding that makes one
// release safe.
package he
