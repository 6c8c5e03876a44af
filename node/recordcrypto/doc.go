// Package recordcrypto is the cryptography of a medical record: the custodian
// hospital encrypts a record's FHIR JSON with a fresh 256-bit data key
// (AES-256-GCM, bound to the record id), and seals that data key to the
// X25519 keys of the patient, the custodian and, later, granted doctors with
// HPKE (RFC 9180, the standard library's crypto/hpke). Pure functions, no I/O.
package recordcrypto
