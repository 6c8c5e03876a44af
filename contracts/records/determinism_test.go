package records_test

import (
	"testing"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// TestTheSameTxsGiveTheSameState: two runs of the whole story give
// byte-identical state, and so the same app hash on every validator.
func TestTheSameTxsGiveTheSameState(t *testing.T) {
	story := func() string {
		s := newSharing(t)
		s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: sorted(s.p1, s.p2)}, Purposes: both, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1, s.p2)})
		s.ok(s.a, records.TypeForward, &pb.ForwardGrant{Parent: 1, Grantee: s.b, Purposes: consultation, ExpiryHeight: 50, Keys: keysFor(s.b, s.p1, s.p2)})
		s.ok(s.b, records.TypeAccess, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_CONSULTATION, Grant: 2})
		s.ok(s.emergency, records.TypeAccess, &pb.RequestAccess{RecordId: s.q1, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "x"})
		s.ok(op2, records.TypeReview, &pb.ReviewBreakGlass{Access: 2, Finding: pb.Finding_FINDING_JUSTIFIED})
		s.ok(s.p, records.TypeRevoke, &pb.RevokeGrant{Grant: 1})
		s.ok(s.p, records.TypeErase, &pb.EraseRecord{RecordId: s.p2})
		s.ok(s.p, records.TypeConsent, &pb.SetConsent{Research: pb.Consent_CONSENT_OPT_IN})
		return snapshot(t, s.store)
	}
	if a, b := story(), story(); a != b {
		t.Fatal("two runs of the same txs gave different states")
	}
}
