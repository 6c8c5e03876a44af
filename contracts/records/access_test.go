package records_test

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestAccessRequest(t *testing.T) {
	s := newSharing(t)
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: sorted(s.p1, s.p2)}, Purposes: both, ExpiryHeight: 30, Forwardable: true, Keys: keysFor(s.a, s.p1, s.p2)})
	ids := s.lastGrant()
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.b, Scope: &pb.GrantScope{ResourceTypes: []string{"Observation"}, DateFrom: 20230101, DateTo: 20231231}, Purposes: treatment, ExpiryHeight: 30, Keys: keysFor(s.b, s.p2)})
	typed := s.lastGrant()
	s.ok(s.p, records.TypeGrant, byIDs(s.a, s.p3))
	revoked := s.lastGrant()
	s.ok(s.p, records.TypeRevoke, &pb.RevokeGrant{Grant: revoked})
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.c, Scope: &pb.GrantScope{ResourceTypes: []string{"Condition"}}, Purposes: treatment, ExpiryHeight: 30})
	partial := s.lastGrant()
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.c, Scope: &pb.GrantScope{ResourceTypes: []string{"Condition", "Encounter"}}, Purposes: treatment, ExpiryHeight: 30})
	whole := s.lastGrant()
	s.height = 20

	treat, consult, emergency := pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_CONSULTATION, pb.Purpose_PURPOSE_EMERGENCY
	req := func(rec string, grant uint64, purpose pb.Purpose) *pb.RequestAccess {
		return &pb.RequestAccess{RecordId: rec, Purpose: purpose, Grant: grant}
	}
	glass := func(rec, reason string) *pb.RequestAccess {
		return &pb.RequestAccess{RecordId: rec, Purpose: emergency, BreakGlass: true, Reason: reason}
	}
	tests := []struct {
		name   string
		signer string
		height int64
		msg    *pb.RequestAccess
		want   error
		reason string
		// keys is where the reader's data key is, on success.
		keys pb.KeySource
	}{
		{"the grantee reads a record of its grant", s.a, 20, req(s.p1, ids, treat), nil, "", pb.KeySource_KEY_SOURCE_GRANT},
		{"the grantee reads for another purpose of its grant", s.a, 20, req(s.p2, ids, consult), nil, "", pb.KeySource_KEY_SOURCE_GRANT},
		{"a grant is valid at its expiry height", s.a, 30, req(s.p1, ids, treat), nil, "", pb.KeySource_KEY_SOURCE_GRANT},
		{"a type grant covers a keyed record of that type in its dates", s.b, 20, req(s.p2, typed, treat), nil, "", pb.KeySource_KEY_SOURCE_GRANT},
		{"a grant is expired after its expiry height", s.a, 31, req(s.p1, ids, treat), contracts.ErrDenied, "expired", 0},
		{"a revoked grant is refused", s.a, 20, req(s.p3, revoked, treat), contracts.ErrDenied, "revoked", 0},
		{"a never-issued grant is refused", s.a, 20, req(s.p1, 999, treat), contracts.ErrDenied, "unknown_grant", 0},
		{"no grant and no break-glass is refused", s.a, 20, req(s.p1, 0, treat), contracts.ErrDenied, "no_grant", 0},
		{"a doctor of another hospital may not use A's grant", s.b, 20, req(s.p1, ids, treat), contracts.ErrDenied, "not_grantee", 0},
		{"a doctor of the same hospital may not use A's grant", s.emergency, 20, req(s.p1, ids, treat), contracts.ErrDenied, "not_grantee", 0},
		{"a record outside the grant's ids is refused", s.a, 20, req(s.p3, ids, treat), contracts.ErrDenied, "out_of_scope", 0},
		{"a record of another type is refused", s.b, 20, req(s.p1, typed, treat), contracts.ErrDenied, "out_of_scope", 0},
		{"a record with a type the grant does not list is refused", s.c, 20, req(s.p1, partial, treat), contracts.ErrDenied, "out_of_scope", 0},
		{"a record whose every type is granted is read, its key sealed by the custodian", s.c, 20, req(s.p1, whole, treat), nil, "", pb.KeySource_KEY_SOURCE_CUSTODIAN},
		{"a record outside the grant's dates is refused", s.b, 20, req(s.p3, typed, treat), contracts.ErrDenied, "out_of_scope", 0},
		{"another patient's record that matches the filter is refused", s.b, 20, req(s.q1, typed, treat), contracts.ErrDenied, "other_patient", 0},
		{"a purpose the grant does not list is refused", s.b, 20, req(s.p2, typed, consult), contracts.ErrDenied, "purpose", 0},
		{"the emergency purpose under a grant is refused", s.a, 20, req(s.p1, ids, emergency), contracts.ErrDenied, "purpose", 0},
		{"an unknown record is not found", s.a, 20, req(ridOf("nothing"), ids, treat), contracts.ErrNotFound, "", 0},
		{"a malformed record id is refused", s.a, 20, req("p1", ids, treat), contracts.ErrInvalidPayload, "", 0},
		{"an unspecified purpose is refused", s.a, 20, req(s.p1, ids, 0), contracts.ErrInvalidPayload, "", 0},
		{"an unknown purpose is refused", s.a, 20, req(s.p1, ids, 9), contracts.ErrInvalidPayload, "", 0},
		{"a doctor with the emergency duty breaks the glass with a reason", s.emergency, 20, glass(s.q1, "unconscious on arrival, suspected anaphylaxis"), nil, "", pb.KeySource_KEY_SOURCE_CUSTODIAN},
		{"break-glass works on any hospital's record", s.emergency2, 20, glass(s.p1, "cardiac arrest"), nil, "", pb.KeySource_KEY_SOURCE_CUSTODIAN},
		{"break-glass without the emergency duty is refused", s.a, 20, glass(s.p1, "cardiac arrest"), contracts.ErrDenied, "no_emergency_role", 0},
		{"break-glass without a reason is refused", s.emergency, 20, glass(s.p1, ""), contracts.ErrDenied, "no_reason", 0},
		{"break-glass with a blank reason is refused", s.emergency, 20, glass(s.p1, "   "), contracts.ErrDenied, "no_reason", 0},
		{"break-glass with a grant is refused", s.emergency, 20, &pb.RequestAccess{RecordId: s.p1, Purpose: emergency, Grant: ids, BreakGlass: true, Reason: "x"}, contracts.ErrDenied, "grant_and_break_glass", 0},
		{"break-glass for treatment is refused", s.emergency, 20, &pb.RequestAccess{RecordId: s.p1, Purpose: treat, BreakGlass: true, Reason: "x"}, contracts.ErrDenied, "purpose", 0},
		{"a reason over the limit is refused", s.emergency, 20, glass(s.p1, strings.Repeat("r", records.MaxReasonBytes+1)), contracts.ErrInvalidPayload, "", 0},
		{"a reason with control characters is refused", s.emergency, 20, glass(s.p1, "a\x00b"), contracts.ErrInvalidPayload, "", 0},
		{"a patient may not request access", s.p, 20, req(s.p1, ids, treat), contracts.ErrUnauthorized, "", 0},
		{"an operator may not request access", op1, 20, glass(s.p1, "x"), contracts.ErrUnauthorized, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := *s.world
			w.t = t
			w.store = cloneStore(s.store)
			w.height = tt.height
			before := snapshot(t, w.store)
			err := w.exec(tt.signer, records.TypeAccess, tt.msg)
			wantErr(t, err, tt.want, tt.reason)
			if tt.want != nil {
				if errorsIsDenied(err) && !strings.HasPrefix(err.Error(), "unauthorized: denied by the alliance's rules: "+tt.reason+": ") {
					t.Errorf("log %q does not lead with the reason", err)
				}
				if snapshot(t, w.store) != before {
					t.Fatal("a refused access changed state")
				}
				return
			}
			id := w.lastAccess()
			e, err := records.GetAccess(w.store, id)
			if err != nil || e == nil {
				t.Fatalf("entry = %v, %v", e, err)
			}
			rec := w.record(tt.msg.RecordId)
			want := &pb.AccessEntry{
				Id: id, Doctor: tt.signer, DoctorHospital: w.account(tt.signer).Hospital, RecordId: tt.msg.RecordId, Custodian: rec.Custodian,
				Grant: tt.msg.Grant, BreakGlass: tt.msg.BreakGlass, Purpose: tt.msg.Purpose, Height: tt.height, Reason: tt.msg.Reason, KeySource: tt.keys,
			}
			if tt.msg.BreakGlass {
				want.Review = &pb.Review{Open: true}
			}
			if !proto.Equal(e, want) {
				t.Errorf("entry = %v\nwant %v", e, want)
			}
			for name, list := range map[string]func() ([]*pb.AccessEntry, error){
				"record": func() ([]*pb.AccessEntry, error) { return records.AccessesOfRecord(w.store, raw32(tt.msg.RecordId)) },
				"doctor": func() ([]*pb.AccessEntry, error) { return records.AccessesOfDoctor(w.store, raw20(tt.signer)) },
			} {
				if es, err := list(); err != nil || len(es) != 1 || es[0].Id != id {
					t.Errorf("%s index = %v, %v", name, es, err)
				}
			}
			open, _ := records.OpenReviews(w.store, "")
			if (len(open) == 1) != tt.msg.BreakGlass {
				t.Errorf("open reviews = %v", open)
			}
			a := w.event(records.EventAccessed)
			if a["record"] != tt.msg.RecordId || a["doctor"] != tt.signer || a["custodian"] != rec.Custodian || a["break_glass"] != boolStr(tt.msg.BreakGlass) {
				t.Errorf("event = %v", a)
			}
			for _, v := range a {
				if strings.Contains(v, "anaphylaxis") || strings.Contains(v, "arrest") {
					t.Errorf("the break-glass reason is in an event: %v", a)
				}
			}
		})
	}
}

func boolStr(b bool) string {
	if b {
		return "true"
	}
	return "false"
}

func errorsIsDenied(err error) bool { return class(err) == contracts.ErrDenied }

// TestRevocationCutsTheChainBelow: P → A → B → C; revoking any link cuts
// it and every forward below it, at the next tx, and leaves links above.
func TestRevocationCutsTheChainBelow(t *testing.T) {
	type link struct {
		holder string
		grant  uint64
	}
	build := func(t *testing.T) (*sharing, []link) {
		s := newSharing(t)
		s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: []string{s.p1}}, Purposes: both, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1)})
		chain := []link{{s.a, s.lastGrant()}}
		for _, next := range []string{s.b, s.c} {
			prev := chain[len(chain)-1]
			s.ok(prev.holder, records.TypeForward, &pb.ForwardGrant{Parent: prev.grant, Grantee: next, Purposes: consultation, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(next, s.p1)})
			chain = append(chain, link{next, s.lastGrant()})
		}
		return s, chain
	}
	access := func(s *sharing, l link) error {
		s.t.Helper()
		return s.exec(l.holder, records.TypeAccess, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_CONSULTATION, Grant: l.grant})
	}
	t.Run("before any revocation every link reads", func(t *testing.T) {
		s, chain := build(t)
		for _, l := range chain {
			wantErr(t, access(s, l), nil, "")
		}
	})
	for cut := range 3 {
		for _, by := range []string{"patient", "forwarder"} {
			if by == "forwarder" && cut == 0 {
				continue // the root grant is the patient's own
			}
			t.Run("revoking link "+itoa(uint64(cut))+" by the "+by+" cuts it and the links below", func(t *testing.T) {
				s, chain := build(t)
				revoker := s.p
				if by == "forwarder" {
					revoker = chain[cut-1].holder
				}
				s.height = 11
				s.ok(revoker, records.TypeRevoke, &pb.RevokeGrant{Grant: chain[cut].grant})
				s.height = 12
				for i, l := range chain {
					if i < cut {
						wantErr(t, access(s, l), nil, "")
					} else {
						wantErr(t, access(s, l), contracts.ErrDenied, "revoked")
					}
				}
				// A cut link cannot be forwarded around either.
				if cut < 2 {
					err := s.exec(chain[cut+1].holder, records.TypeForward, &pb.ForwardGrant{Parent: chain[cut+1].grant, Grantee: s.emergency, Purposes: consultation, ExpiryHeight: 100, Keys: keysFor(s.emergency, s.p1)})
					wantErr(t, err, contracts.ErrDenied, "revoked")
				}
				if g, err := records.GrantValidAt(s.store, chain[2].grant, 12); g != nil || class(err) != contracts.ErrDenied {
					t.Errorf("GrantValidAt(leaf) = %v, %v", g, err)
				}
			})
		}
	}
	t.Run("a parent's expiry cuts the forwards below", func(t *testing.T) {
		s := newSharing(t)
		s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: []string{s.p1}}, Purposes: both, ExpiryHeight: 15, Forwardable: true, Keys: keysFor(s.a, s.p1)})
		root := s.lastGrant()
		s.ok(s.a, records.TypeForward, &pb.ForwardGrant{Parent: root, Grantee: s.b, Purposes: consultation, ExpiryHeight: 15, Keys: keysFor(s.b, s.p1)})
		leaf := link{s.b, s.lastGrant()}
		s.height = 15
		wantErr(t, access(s, leaf), nil, "")
		s.height = 16
		wantErr(t, access(s, leaf), contracts.ErrDenied, "expired")
	})
	t.Run("GrantValidAt reports a never-issued grant as not found", func(t *testing.T) {
		s, _ := build(t)
		if _, err := records.GrantValidAt(s.store, 999, 12); class(err) != contracts.ErrNotFound {
			t.Errorf("GrantValidAt(999) = %v", err)
		}
	})
}

func TestBreakGlassReview(t *testing.T) {
	s := newSharing(t)
	// E (h1) breaks the glass on p2 (kept by h1) and on q1 (kept by h2);
	// R (h1 reviewer, emergency too) breaks the glass on p1.
	s.ok(s.emergency, records.TypeAccess, &pb.RequestAccess{RecordId: s.p2, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "stroke"})
	onH1 := s.lastAccess()
	s.ok(s.emergency, records.TypeAccess, &pb.RequestAccess{RecordId: s.q1, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "stroke"})
	onH2 := s.lastAccess()
	s.ok(s.reviewer, records.TypeAccess, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "sepsis"})
	own := s.lastAccess()
	s.ok(s.p, records.TypeGrant, byIDs(s.a, s.p1))
	s.ok(s.a, records.TypeAccess, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: s.lastGrant()})
	granted := s.lastAccess()
	if open, _ := records.OpenReviews(s.store, "h1"); len(open) != 2 {
		t.Fatalf("h1's open reviews = %v", open)
	}
	s.height = 40

	review := func(id uint64) *pb.ReviewBreakGlass {
		return &pb.ReviewBreakGlass{Access: id, Finding: pb.Finding_FINDING_JUSTIFIED, Note: "consistent with the ED notes"}
	}
	tests := []struct {
		name   string
		signer string
		msg    *pb.ReviewBreakGlass
		want   error
	}{
		{"the custodian's operator closes a flagged entry", op1, review(onH1), nil},
		{"a reviewer doctor of the custodian closes it", s.reviewer, review(onH1), nil},
		{"a reviewer of the custodian closes an access by a doctor of another hospital", s.reviewerH2, review(onH2), nil},
		{"a finding of unjustified access closes it too", op2, &pb.ReviewBreakGlass{Access: onH2, Finding: pb.Finding_FINDING_UNJUSTIFIED}, nil},
		{"the operator of another hospital may not", op2, review(onH1), contracts.ErrUnauthorized},
		{"a reviewer doctor of another hospital may not", s.reviewerH2, review(onH1), contracts.ErrUnauthorized},
		{"a doctor without the reviewer duty may not", s.a, review(onH1), contracts.ErrUnauthorized},
		{"the doctor who broke the glass may not", s.emergency, review(onH1), contracts.ErrUnauthorized},
		{"a reviewer may not review its own break-glass", s.reviewer, review(own), contracts.ErrUnauthorized},
		{"the impostor may not", impostor, review(onH1), contracts.ErrUnauthorized},
		{"an access under a grant is not reviewed", op1, review(granted), contracts.ErrWrongState},
		{"an unknown entry is not found", op1, review(999), contracts.ErrNotFound},
		{"an unspecified finding is refused", op1, &pb.ReviewBreakGlass{Access: onH1}, contracts.ErrInvalidPayload},
		{"an unknown finding is refused", op1, &pb.ReviewBreakGlass{Access: onH1, Finding: 9}, contracts.ErrInvalidPayload},
		{"a note over the limit is refused", op1, &pb.ReviewBreakGlass{Access: onH1, Finding: 1, Note: strings.Repeat("n", records.MaxNoteBytes+1)}, contracts.ErrInvalidPayload},
		{"a patient may not review", s.p, review(onH1), contracts.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := *s.world
			w.t = t
			w.store = cloneStore(s.store)
			err := w.exec(tt.signer, records.TypeReview, tt.msg)
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			e, _ := records.GetAccess(w.store, tt.msg.Access)
			want := &pb.Review{Reviewer: tt.signer, Finding: tt.msg.Finding, Note: tt.msg.Note, Height: 40}
			if !proto.Equal(e.Review, want) {
				t.Errorf("review = %v, want %v", e.Review, want)
			}
			open, _ := records.OpenReviews(w.store, "")
			for _, o := range open {
				if o.Id == tt.msg.Access {
					t.Error("the closed entry is still open")
				}
			}
			if len(open) != 2 {
				t.Errorf("open reviews = %d, want 2", len(open))
			}
			if a := w.event(records.EventReviewed); a["access"] != itoa(tt.msg.Access) || a["reviewer"] != tt.signer {
				t.Errorf("event = %v", a)
			}
			wantErr(t, w.exec(tt.signer, records.TypeReview, tt.msg), contracts.ErrWrongState, "")
		})
	}
}
