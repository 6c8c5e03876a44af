package records

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// QueryPaths documents the "/records/..." query paths. Single-record paths
// (QueryKey) read one state key and can be proved; list paths (QueryList)
// iterate and carry no proof.
var QueryPaths = []string{
	"/records/patient/<pseudonym>                  a patient: its account and hospitals (pb.Patient)",
	"/records/record/<record id>                   a record: custodian, types, content hash, sealed keys, erasure (pb.Record)",
	"/records/grant/<id>                           a grant or forward (pb.Grant)",
	"/records/grantkey/<record id>/<grant id>      a record's data key sealed to a grant's grantee (raw bytes)",
	"/records/access/<id>                          an access entry (pb.AccessEntry)",
	"/records/gateway/<hospital>                   a hospital's gateway URL and certificate SHA-256 (pb.Gateway)",
	"/records/consent/<pseudonym>/<height>         the consent choice made exactly at height (pb.ConsentRecord)",
	"/records/patient/<pseudonym>/records          every record about a patient, all hospitals (pb.RecordList, no proof)",
	"/records/patient/<pseudonym>/grants           every grant and forward of a patient's trees (pb.GrantList, no proof)",
	"/records/patient/<pseudonym>/consent          a patient's consent history (pb.ConsentHistory, no proof)",
	"/records/patient/<pseudonym>/consent_at/<h>   the consent in force at height h (pb.ConsentRecord, empty if none; no proof)",
	"/records/grantee/<address>/grants             the grants a doctor received (pb.GrantList, no proof)",
	"/records/record/<record id>/accesses          a record's access entries (pb.AccessList, no proof)",
	"/records/doctor/<address>/accesses            a doctor's access entries (pb.AccessList, no proof)",
	"/records/reviews/open[/<hospital>]            break-glass entries awaiting review (pb.AccessList, no proof)",
}

// ErrBadPath wraps every refusal of a "/records/..." path. It is not a
// contract sentinel: the app maps it to its bad-query code.
var ErrBadPath = errors.New("bad /records query path")

func badPath(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrBadPath, fmt.Sprintf(format, a...))
}

func pathID(what, s string) ([32]byte, error) {
	id, err := ParseID(what, s)
	if err != nil {
		return id, badPath("%v", err)
	}
	return id, nil
}

func pathNum(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badPath("%s %s is not a number", what, short(s))
	}
	return n, nil
}

func pathHeight(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, badPath("height %s is not a non-negative number", short(s))
	}
	return n, nil
}

func pathAddr(s string) ([20]byte, error) {
	a, err := pb.ParseAddress(s)
	if err != nil {
		return a, badPath("%v", err)
	}
	return a, nil
}

// QueryKey returns the state key a single-record "/records/..." path
// reads; parts are the path's segments after "records". A list path, or
// an unknown or malformed one, is an error wrapping ErrBadPath.
func QueryKey(parts []string) ([]byte, error) {
	if len(parts) == 0 {
		return nil, badPath("empty path; known paths: %s", strings.Join(QueryPaths, "; "))
	}
	switch {
	case parts[0] == "patient" && len(parts) == 2:
		pid, err := pathID("pseudonym", parts[1])
		if err != nil {
			return nil, err
		}
		return PatientKey(pid), nil
	case parts[0] == "record" && len(parts) == 2:
		rid, err := pathID("record id", parts[1])
		if err != nil {
			return nil, err
		}
		return RecordKey(rid), nil
	case parts[0] == "grant" && len(parts) == 2:
		id, err := pathNum("grant id", parts[1])
		if err != nil {
			return nil, err
		}
		return GrantKey(id), nil
	case parts[0] == "grantkey" && len(parts) == 3:
		rid, err := pathID("record id", parts[1])
		if err != nil {
			return nil, err
		}
		id, err := pathNum("grant id", parts[2])
		if err != nil {
			return nil, err
		}
		return KeyCopyKey(rid, id), nil
	case parts[0] == "access" && len(parts) == 2:
		id, err := pathNum("access id", parts[1])
		if err != nil {
			return nil, err
		}
		return AccessKey(id), nil
	case parts[0] == "gateway" && len(parts) == 2 && parts[1] != "":
		return GatewayKey(parts[1]), nil
	case parts[0] == "consent" && len(parts) == 3:
		pid, err := pathID("pseudonym", parts[1])
		if err != nil {
			return nil, err
		}
		h, err := pathHeight(parts[2])
		if err != nil {
			return nil, err
		}
		return ConsentKey(pid, h), nil
	}
	return nil, badPath("unknown path /records/%s; known paths: %s", short(strings.Join(parts, "/")), strings.Join(QueryPaths, "; "))
}

// IsListPath reports whether parts (after "records") name a list path.
func IsListPath(parts []string) bool {
	n := len(parts)
	switch {
	case n == 3 && parts[0] == "patient" && (parts[2] == "records" || parts[2] == "grants" || parts[2] == "consent"),
		n == 4 && parts[0] == "patient" && parts[2] == "consent_at",
		n == 3 && parts[0] == "grantee" && parts[2] == "grants",
		n == 3 && parts[0] == "record" && parts[2] == "accesses",
		n == 3 && parts[0] == "doctor" && parts[2] == "accesses",
		(n == 2 || n == 3) && parts[0] == "reviews" && parts[1] == "open":
		return true
	}
	return false
}

// QueryList answers a list path (IsListPath) from r, which is committed
// state at the query's height. The answer is one of the list messages of
// QueryPaths.
func QueryList(r contracts.Reader, parts []string) (proto.Message, error) {
	m, err := queryList(r, parts)
	if err != nil {
		return nil, err
	}
	return m, nil
}

func queryList(r contracts.Reader, parts []string) (proto.Message, error) {
	if !IsListPath(parts) {
		return nil, badPath("/records/%s is not a list path; known paths: %s", short(strings.Join(parts, "/")), strings.Join(QueryPaths, "; "))
	}
	switch parts[0] {
	case "patient":
		pid, err := pathID("pseudonym", parts[1])
		if err != nil {
			return nil, err
		}
		switch parts[2] {
		case "records":
			rs, err := RecordsOfPatient(r, pid)
			return &pb.RecordList{Records: rs}, err
		case "grants":
			gs, err := GrantsOfPatient(r, pid)
			return &pb.GrantList{Grants: gs}, err
		case "consent":
			cs, err := ConsentHistory(r, pid)
			return &pb.ConsentHistory{Entries: cs}, err
		default: // consent_at
			h, err := pathHeight(parts[3])
			if err != nil {
				return nil, err
			}
			c, err := ConsentAt(r, pid, h)
			if c == nil {
				c = &pb.ConsentRecord{}
			}
			return c, err
		}
	case "grantee":
		a, err := pathAddr(parts[1])
		if err != nil {
			return nil, err
		}
		gs, err := GrantsOfGrantee(r, a)
		return &pb.GrantList{Grants: gs}, err
	case "record":
		rid, err := pathID("record id", parts[1])
		if err != nil {
			return nil, err
		}
		es, err := AccessesOfRecord(r, rid)
		return &pb.AccessList{Entries: es}, err
	case "doctor":
		a, err := pathAddr(parts[1])
		if err != nil {
			return nil, err
		}
		es, err := AccessesOfDoctor(r, a)
		return &pb.AccessList{Entries: es}, err
	default: // reviews/open
		custodian := ""
		if len(parts) == 3 {
			custodian = parts[2]
		}
		es, err := OpenReviews(r, custodian)
		return &pb.AccessList{Entries: es}, err
	}
}
