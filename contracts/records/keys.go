package records

import (
	"encoding/binary"
	"fmt"
)

// State keys of this contract: one-byte prefixes, then fixed-size parts
// (pseudonyms and record ids as their 32 bytes, addresses as their 20,
// ids and heights as 8 bytes big endian), so every range below is exact.
const (
	prefixPatient       = 0x40 // pid(32) → Patient
	prefixRecord        = 0x41 // record(32) → Record
	prefixPatientRecord = 0x42 // pid(32) record(32) → 0x01: every record about a patient
	prefixGrant         = 0x43 // id(8) → Grant
	prefixPatientGrant  = 0x44 // pid(32) grant(8) → grant(8): every grant of a patient's trees
	prefixGranteeGrant  = 0x45 // address(20) grant(8) → grant(8): grants a doctor received
	prefixKeyCopy       = 0x46 // record(32) grant(8) → data key sealed to the grantee
	prefixAccess        = 0x47 // id(8) → AccessEntry
	prefixRecordAccess  = 0x48 // record(32) access(8) → access(8)
	prefixDoctorAccess  = 0x49 // address(20) access(8) → access(8)
	prefixOpenReview    = 0x4a // access(8) → access(8): break-glass entries awaiting review
	prefixConsent       = 0x4b // pid(32) height(8) → ConsentRecord
	prefixGateway       = 0x4c // hospital id → Gateway
	prefixSubject       = 0x4d // len(1) hospital id, pid(32) → 0x01: research subjects by contributing hospital
	prefixCounter       = 0x4f // kind(1) → next id(8)
)

// Counter kinds.
const (
	counterGrant  = 0x01
	counterAccess = 0x02
)

func u64(b []byte, v uint64) []byte { return binary.BigEndian.AppendUint64(b, v) }

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

// PatientKey is the state key of the patient with pseudonym pid.
func PatientKey(pid [32]byte) []byte { return key(prefixPatient, pid[:]) }

// RecordKey is the state key of a record.
func RecordKey(rid [32]byte) []byte { return key(prefixRecord, rid[:]) }

// GrantKey is the state key of grant id.
func GrantKey(id uint64) []byte { return u64([]byte{prefixGrant}, id) }

// KeyCopyKey is the state key of record's data key sealed to the grantee
// of grant.
func KeyCopyKey(rid [32]byte, grant uint64) []byte { return u64(key(prefixKeyCopy, rid[:]), grant) }

// AccessKey is the state key of access entry id.
func AccessKey(id uint64) []byte { return u64([]byte{prefixAccess}, id) }

// ConsentKey is the state key of the consent pid set at height.
func ConsentKey(pid [32]byte, height int64) []byte {
	return u64(key(prefixConsent, pid[:]), uint64(height))
}

// GatewayKey is the state key of a hospital's published gateway.
func GatewayKey(hospital string) []byte { return key(prefixGateway, []byte(hospital)) }

func patientRecordKey(pid, rid [32]byte) []byte { return key(prefixPatientRecord, pid[:], rid[:]) }

func patientGrantKey(pid [32]byte, id uint64) []byte { return u64(key(prefixPatientGrant, pid[:]), id) }

func granteeGrantKey(addr [20]byte, id uint64) []byte {
	return u64(key(prefixGranteeGrant, addr[:]), id)
}

func recordAccessKey(rid [32]byte, id uint64) []byte { return u64(key(prefixRecordAccess, rid[:]), id) }

func doctorAccessKey(addr [20]byte, id uint64) []byte {
	return u64(key(prefixDoctorAccess, addr[:]), id)
}

func openReviewKey(id uint64) []byte { return u64([]byte{prefixOpenReview}, id) }

func counterKey(kind byte) []byte { return []byte{prefixCounter, kind} }

// bounds is a key range [start, end).
type bounds struct{ start, end []byte }

// span returns the range [p, p+1) of every key that starts with p. Every
// prefix here ends in a fixed-size part, so p+1 never overflows into a
// neighbouring range; an all-0xff prefix would be a broken invariant.
func span(p []byte) bounds {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return bounds{p, end[:i+1]}
		}
	}
	panic(fmt.Sprintf("records: no end for the all-0xff prefix %x", p)) // broken invariant: prefixes start with 0x4_
}

func patientRecordSpan(pid [32]byte) bounds { return span(key(prefixPatientRecord, pid[:])) }
func patientGrantSpan(pid [32]byte) bounds  { return span(key(prefixPatientGrant, pid[:])) }
func granteeGrantSpan(addr [20]byte) bounds { return span(key(prefixGranteeGrant, addr[:])) }
func keyCopySpan(rid [32]byte) bounds       { return span(key(prefixKeyCopy, rid[:])) }
func recordAccessSpan(rid [32]byte) bounds  { return span(key(prefixRecordAccess, rid[:])) }
func doctorAccessSpan(addr [20]byte) bounds { return span(key(prefixDoctorAccess, addr[:])) }
func openReviewSpan() bounds                { return span([]byte{prefixOpenReview}) }
func consentSpan(pid [32]byte) bounds       { return span(key(prefixConsent, pid[:])) }

// subjectKey: patient pid is, now, a research subject that hospital
// contributes for (see refreshSubject).
func subjectKey(hospital string, pid [32]byte) []byte {
	return key(prefixSubject, []byte{byte(len(hospital))}, []byte(hospital), pid[:])
}

func subjectSpan(hospital string) bounds {
	return span(key(prefixSubject, []byte{byte(len(hospital))}, []byte(hospital)))
}

// Span bounds every key of this contract.
func Span() (start, end []byte) { return []byte{prefixPatient}, []byte{prefixCounter + 1} }
