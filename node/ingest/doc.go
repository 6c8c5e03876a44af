// Package ingest is the hospital relay behind `medchain ingest`: it imports a FHIR R4 export into the
// custodian's vault and onto the chain in two phases that never overlap — Read (source → pseudonyms,
// encrypted records in the vault, and a spool of ready-to-sign tx payloads; no network) and Push (spool →
// patient.enrol and record.register txs signed by the operator; no source). Both resume after a crash from
// the fsync'd spool, the vault and chain state, so nothing is duplicated or lost. See README.md for the unit.
package ingest
