// Package records is the contract of record sharing: patients and doctors
// enrolled by their hospitals, encrypted records registered by their
// custodian, grants from patients to doctors and their forwards, access
// decisions written as access entries, break-glass review, erasure,
// research consent, and the hospitals' pinned gateways.
//
// Txs, who may send them, and the affiliation checked inside:
//
//	patient.enrol      operator   of the enrolling hospital (first enrolment creates the account, later ones link)
//	doctor.enrol       operator   of the doctor's hospital
//	doctor.update      operator   of the doctor's hospital (emergency and reviewer duties)
//	hospital.gateway   operator   of the hospital (gateway URL + TLS certificate SHA-256)
//	record.register    operator   of the custodian, the patient enrolled there
//	record.erase       patient    who owns the record, or operator of its custodian
//	grant.create       patient    who owns every record in scope
//	grant.forward      doctor     grantee of a valid, forwardable grant
//	grant.revoke       patient    of the grant's tree, or doctor who forwarded it
//	access.request     doctor     grantee of a valid grant covering the record, or emergency duty (break-glass)
//	breakglass.review  operator   of the custodian, or a reviewer doctor of the custodian (never its own access)
//	patient.consent    patient    its own research consent, from this height on
//
// No personal data reaches state or events: a patient is its pseudonym
// (HMAC-SHA256 of identity fields under the alliance pepper, computed off
// chain), records and keys are opaque. Labels, reasons and review notes are
// free text the contract cannot vet: clients must keep them non-identifying
// (and they are in the block's tx bytes, whatever state keeps).
//
// Every access rule is decided in Exec, never in Validate, so a refused
// access attempt lands in its block with code "denied" (contracts.ErrDenied)
// and its reason in the log, and changes nothing but the signer's nonce.
package records
