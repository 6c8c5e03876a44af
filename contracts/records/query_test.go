package records_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestQueryPaths(t *testing.T) {
	s := newSharing(t)
	s.ok(s.p, records.TypeGrant, byIDs(s.a, s.p1))
	g := s.lastGrant()
	s.ok(s.a, records.TypeAccess, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: g})
	s.ok(s.emergency, records.TypeAccess, &pb.RequestAccess{RecordId: s.q1, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "x"})
	s.ok(op1, records.TypeSetGateway, &pb.SetGateway{Url: "https://gw", CertSha256: make([]byte, 32)})
	s.ok(s.p, records.TypeConsent, &pb.SetConsent{Research: pb.Consent_CONSENT_OPT_IN})

	t.Run("single-record paths read the record's key", func(t *testing.T) {
		for _, tt := range []struct {
			path string
			into proto.Message
		}{
			{"patient/" + s.pPid, &pb.Patient{}},
			{"record/" + s.p1, &pb.Record{}},
			{"grant/" + itoa(g), &pb.Grant{}},
			{"access/1", &pb.AccessEntry{}},
			{"gateway/h1", &pb.Gateway{}},
			{"consent/" + s.pPid + "/10", &pb.ConsentRecord{}},
		} {
			k, err := records.QueryKey(strings.Split(tt.path, "/"))
			if err != nil {
				t.Fatalf("%s: %v", tt.path, err)
			}
			if records.IsListPath(strings.Split(tt.path, "/")) {
				t.Errorf("%s is not a list path", tt.path)
			}
			bz, _ := s.store.Get(k)
			if bz == nil || proto.Unmarshal(bz, tt.into) != nil {
				t.Errorf("%s: key %x holds %x", tt.path, k, bz)
			}
		}
		k, err := records.QueryKey([]string{"grantkey", s.p1, itoa(g)})
		if bz, _ := s.store.Get(k); err != nil || !bytes.Equal(bz, sealed(s.a+s.p1)) {
			t.Errorf("grantkey = %x, %v", bz, err)
		}
	})
	t.Run("list paths answer from state", func(t *testing.T) {
		for _, tt := range []struct {
			path string
			n    func(proto.Message) int
			want int
		}{
			{"patient/" + s.pPid + "/records", func(m proto.Message) int { return len(m.(*pb.RecordList).Records) }, 3},
			{"patient/" + s.pPid + "/grants", func(m proto.Message) int { return len(m.(*pb.GrantList).Grants) }, 1},
			{"patient/" + s.pPid + "/consent", func(m proto.Message) int { return len(m.(*pb.ConsentHistory).Entries) }, 1},
			{"grantee/" + s.a + "/grants", func(m proto.Message) int { return len(m.(*pb.GrantList).Grants) }, 1},
			{"grantee/" + s.b + "/grants", func(m proto.Message) int { return len(m.(*pb.GrantList).Grants) }, 0},
			{"record/" + s.p1 + "/accesses", func(m proto.Message) int { return len(m.(*pb.AccessList).Entries) }, 1},
			{"doctor/" + s.emergency + "/accesses", func(m proto.Message) int { return len(m.(*pb.AccessList).Entries) }, 1},
			{"reviews/open", func(m proto.Message) int { return len(m.(*pb.AccessList).Entries) }, 1},
			{"reviews/open/h2", func(m proto.Message) int { return len(m.(*pb.AccessList).Entries) }, 1},
			{"reviews/open/h1", func(m proto.Message) int { return len(m.(*pb.AccessList).Entries) }, 0},
		} {
			parts := strings.Split(tt.path, "/")
			if !records.IsListPath(parts) {
				t.Errorf("%s is a list path", tt.path)
			}
			m, err := records.QueryList(s.store, parts)
			if err != nil || tt.n(m) != tt.want {
				t.Errorf("%s = %v, %v; want %d entries", tt.path, m, err, tt.want)
			}
		}
		m, err := records.QueryList(s.store, []string{"patient", s.pPid, "consent_at", "9"})
		if c := m.(*pb.ConsentRecord); err != nil || c.Research != pb.Consent_CONSENT_UNSPECIFIED {
			t.Errorf("consent_at 9 = %v, %v", m, err)
		}
		m, err = records.QueryList(s.store, []string{"patient", s.pPid, "consent_at", "10"})
		if c := m.(*pb.ConsentRecord); err != nil || c.Research != pb.Consent_CONSENT_OPT_IN {
			t.Errorf("consent_at 10 = %v, %v", m, err)
		}
	})
	t.Run("bad paths are refused with ErrBadPath", func(t *testing.T) {
		for _, p := range []string{
			"", "nothing", "patient", "patient/" + strings.ToUpper(s.pPid), "record/xyz", "grant/-1", "grant/x",
			"access/", "gateway/", "grantkey/" + s.p1, "grantkey/" + s.p1 + "/x", "consent/" + s.pPid + "/-5",
			"patient/" + s.pPid + "/records",
		} {
			if _, err := records.QueryKey(strings.Split(p, "/")); !errors.Is(err, records.ErrBadPath) {
				t.Errorf("QueryKey(%q) = %v", p, err)
			}
		}
		for _, p := range []string{
			"patient/" + s.pPid, "patient/x/records", "grantee/mc1/grants", "doctor/x/accesses", "record/x/accesses",
			"patient/" + s.pPid + "/consent_at/x", "reviews", "reviews/closed",
		} {
			if _, err := records.QueryList(s.store, strings.Split(p, "/")); !errors.Is(err, records.ErrBadPath) {
				t.Errorf("QueryList(%q) = %v", p, err)
			}
		}
	})
	t.Run("every documented path starts with /records/", func(t *testing.T) {
		for _, p := range records.QueryPaths {
			if !strings.HasPrefix(p, "/records/") {
				t.Errorf("%q", p)
			}
		}
	})
}
