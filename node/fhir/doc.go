// Package fhir reads the FHIR R4 subset a hospital imports into medchain
// (Patient, Encounter, Condition, Observation; as NDJSON or Bundles), strictly:
// unknown keys, unknown resource types, bad ids, dates or references are
// errors naming the file, line, Bundle entry and field. It groups the
// resources per patient (Cohort), writes a patient's record as canonical JSON
// (the bytes the vault encrypts), and derives a patient's pseudonym from
// normalised identity fields with the alliance pepper (HMAC-SHA256).
//
// What the readers accept, precisely:
//
//   - Only the four resource types above; any other resourceType is an error
//     naming it (nothing is skipped: the importer never drops data silently).
//   - Only the elements modelled by the Go types in this package; any other key
//     is an error naming its path. Keys may not repeat; null, "" and [] are
//     rejected (FHIR forbids them). Input must be valid UTF-8.
//   - ids match [A-Za-z0-9.-]{1,64} and are unique per resource type in the
//     set read; references are "Patient/<id>" and must resolve (NewCohort).
//   - date: YYYY-MM-DD (partial dates are rejected: ages need the day);
//     dateTime: a date, or YYYY-MM-DDThh:mm:ss[.fff](Z|±hh:mm).
//   - decimal: a JSON number without exponent; its text is kept exactly.
//   - Research consent is the Patient extension ConsentExtensionURL with a
//     valueBoolean; absent means no consent.
//
// Bundles may be of type collection, transaction, batch or searchset. Their
// envelope may hold id, timestamp and total (checked) and meta and link
// (ignored: no clinical content); an entry holds resource and optionally
// fullUrl, request (method POST or PUT) and search.
//
// Errors are *Error values naming file, line, Bundle entry, resource and
// field, wrapping one of the Err* causes; no input makes a reader panic
// (fuzz_test.go). Limits bound file size, line size and resource count.
package fhir
