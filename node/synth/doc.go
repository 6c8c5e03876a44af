// Package synth generates a deterministic synthetic cohort for an alliance of
// hospitals — FHIR R4 NDJSON per hospital, with some patients seen at two
// hospitals under the same identity — and truth.json, the exact statistics
// that research queries over those files must reproduce (TRUTH.md defines
// them). Same Options → byte-identical files on every platform: the only
// randomness is a PCG stream seeded from Options.Seed, used through integer
// arithmetic alone.
package synth
