package records_test

import (
	"bytes"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func sorted(ids ...string) []string {
	out := slices.Clone(ids)
	slices.Sort(out)
	return out
}

// keysFor returns opaque sealed keys of records rids for grantee, ascending.
func keysFor(grantee string, rids ...string) []*pb.SealedKey {
	var out []*pb.SealedKey
	for _, id := range sorted(rids...) {
		out = append(out, &pb.SealedKey{RecordId: id, Sealed: sealed(grantee + id)})
	}
	return out
}

var (
	treatment    = []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}
	consultation = []pb.Purpose{pb.Purpose_PURPOSE_CONSULTATION}
	both         = []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_CONSULTATION}
)

// sharing is a world with doctors A (h1), B and C (h2), a doctor "nokey"
// registered without a seal key, patient P (h1 and h2) with records
// p1 (h1, Condition+Encounter, 2023-01-15), p2 (h1, Observation,
// 2023-06-01), p3 (h2, Observation, 2024-01-01), and patient Q (h2) with
// record q1 (h2, Observation, 2023-06-01).
type sharing struct {
	*world
	a, b, c, nokey         string
	p, q                   string // patient accounts
	pPid, qPid             string
	p1, p2, p3, q1         string
	emergency, reviewer    string // doctors of h1
	emergency2, reviewerH2 string // doctors of h2
}

func newSharing(t testing.TB) *sharing {
	w := newWorld(t)
	s := &sharing{world: w}
	s.a = w.enrolDoctor(op1, "A", false, false)
	s.b = w.enrolDoctor(op2, "B", false, false)
	s.c = w.enrolDoctor(op2, "C", false, false)
	s.emergency = w.enrolDoctor(op1, "E", true, false)
	s.reviewer = w.enrolDoctor(op1, "R", true, true)
	s.emergency2 = w.enrolDoctor(op2, "E2", true, false)
	s.reviewerH2 = w.enrolDoctor(op2, "R2", false, true)
	w.ok(op1, "account.register", &pb.RegisterAccount{Pubkey: edPub("nokey"), Role: pb.Role_ROLE_DOCTOR, Label: "old"})
	s.nokey = addr("nokey")
	s.pPid, s.p = w.enrolPatient(op1, "P")
	w.link(op2, "P")
	s.qPid, s.q = w.enrolPatient(op2, "Q")
	s.p1 = w.register(op1, "p1", s.pPid, 20230115, "Condition", "Encounter")
	s.p2 = w.register(op1, "p2", s.pPid, 20230601, "Observation")
	s.p3 = w.register(op2, "p3", s.pPid, 20240101, "Observation")
	s.q1 = w.register(op2, "q1", s.qPid, 20230601, "Observation")
	return s
}

func byIDs(grantee string, ids ...string) *pb.CreateGrant {
	return &pb.CreateGrant{
		Grantee: grantee, Scope: &pb.GrantScope{RecordIds: sorted(ids...)}, Purposes: treatment,
		ExpiryHeight: 100, Keys: keysFor(grantee, ids...),
	}
}

func TestCreateGrant(t *testing.T) {
	s := newSharing(t)
	mod := func(m *pb.CreateGrant, f func(*pb.CreateGrant)) *pb.CreateGrant {
		m = proto.CloneOf(m)
		f(m)
		return m
	}
	obs := &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{ResourceTypes: []string{"Observation"}}, Purposes: both, ExpiryHeight: 100}
	tests := []struct {
		name   string
		signer string
		msg    *pb.CreateGrant
		want   error
	}{
		{"a patient grants a doctor two of its records", s.p, byIDs(s.a, s.p1, s.p2), nil},
		{"a patient grants records kept at two hospitals", s.p, byIDs(s.b, s.p1, s.p3), nil},
		{"a patient grants a resource type, without keys", s.p, obs, nil},
		{"a type grant may carry keys of records in scope", s.p, mod(obs, func(m *pb.CreateGrant) { m.Keys = keysFor(s.a, s.p2, s.p3) }), nil},
		{"a date range grant is allowed", s.p, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{DateFrom: 20230101, DateTo: 20231231}, Purposes: treatment, ExpiryHeight: 11, Forwardable: true}, nil},
		{"a type grant with a key for a record out of scope is refused", s.p, mod(obs, func(m *pb.CreateGrant) { m.Keys = keysFor(s.a, s.p1) }), contracts.ErrInvalidPayload},
		{"a type grant with a key for another patient's record is refused", s.p, mod(obs, func(m *pb.CreateGrant) { m.Keys = keysFor(s.a, s.q1) }), contracts.ErrUnauthorized},
		{"a patient may not grant another patient's record", s.p, byIDs(s.a, s.p1, s.q1), contracts.ErrUnauthorized},
		{"a patient may not grant an unknown record", s.p, byIDs(s.a, ridOf("nothing")), contracts.ErrNotFound},
		{"a grant without a key for a record is refused", s.p, mod(byIDs(s.a, s.p1, s.p2), func(m *pb.CreateGrant) { m.Keys = m.Keys[:1] }), contracts.ErrInvalidPayload},
		{"a key for a record not in the scope is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Keys = keysFor(s.a, s.p2) }), contracts.ErrInvalidPayload},
		{"keys out of order are refused", s.p, mod(byIDs(s.a, s.p1, s.p2), func(m *pb.CreateGrant) { slices.Reverse(m.Keys) }), contracts.ErrInvalidPayload},
		{"a 79-byte sealed key is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Keys[0].Sealed = m.Keys[0].Sealed[:79] }), contracts.ErrInvalidPayload},
		{"record ids out of order are refused", s.p, mod(byIDs(s.a, s.p1, s.p2), func(m *pb.CreateGrant) { slices.Reverse(m.Scope.RecordIds) }), contracts.ErrInvalidPayload},
		{"an expiry at the current height is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.ExpiryHeight = 10 }), contracts.ErrInvalidPayload},
		{"a negative expiry is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.ExpiryHeight = -1 }), contracts.ErrInvalidPayload},
		{"a grant to a patient is refused", s.p, byIDs(s.q, s.p1), contracts.ErrInvalidPayload},
		{"a grant to an unknown account is refused", s.p, byIDs(addr("nobody"), s.p1), contracts.ErrNotFound},
		{"a grant to a doctor without a seal key is refused", s.p, byIDs(s.nokey, s.p1), contracts.ErrWrongState},
		{"a grant to a malformed address is refused", s.p, byIDs("mc1", s.p1), contracts.ErrInvalidPayload},
		{"a grant for no purpose is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Purposes = nil }), contracts.ErrInvalidPayload},
		{"a grant for the emergency purpose is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Purposes = []pb.Purpose{pb.Purpose_PURPOSE_EMERGENCY} }), contracts.ErrInvalidPayload},
		{"purposes out of order are refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Purposes = []pb.Purpose{2, 1} }), contracts.ErrInvalidPayload},
		{"an empty scope is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Scope, m.Keys = &pb.GrantScope{}, nil }), contracts.ErrInvalidPayload},
		{"a missing scope is refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Scope, m.Keys = nil, nil }), contracts.ErrInvalidPayload},
		{"ids and a filter together are refused", s.p, mod(byIDs(s.a, s.p1), func(m *pb.CreateGrant) { m.Scope.DateFrom = 20230101 }), contracts.ErrInvalidPayload},
		{"a date range backwards is refused", s.p, mod(obs, func(m *pb.CreateGrant) { m.Scope.DateFrom, m.Scope.DateTo = 20240101, 20230101 }), contracts.ErrInvalidPayload},
		{"a bad date is refused", s.p, mod(obs, func(m *pb.CreateGrant) { m.Scope.DateTo = 20231301 }), contracts.ErrInvalidPayload},
		{"a patient account not enrolled with a pseudonym may not grant", addr("plain"), byIDs(s.a, s.p1), contracts.ErrUnauthorized},
		{"a doctor may not create grants", s.a, byIDs(s.b, s.p1), contracts.ErrUnauthorized},
		{"an operator may not create grants", op1, byIDs(s.a, s.p1), contracts.ErrUnauthorized},
	}
	s.ok(op1, "account.register", &pb.RegisterAccount{Pubkey: edPub("plain"), Role: pb.Role_ROLE_PATIENT, Label: "p"})
	base := snapshot(t, s.store)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := *s.world
			w.t = t
			w.store = cloneStore(s.store)
			err := w.exec(tt.signer, records.TypeGrant, tt.msg)
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				if snapshot(t, w.store) != base {
					t.Fatal("a refused grant changed state")
				}
				return
			}
			g := w.grant(w.lastGrant())
			if g.Pseudonym != s.pPid || g.Grantor != s.p || g.Grantee != tt.msg.Grantee || g.Parent != 0 || g.Root != g.Id || g.Depth != 0 ||
				!proto.Equal(g.Scope, tt.msg.Scope) || !slices.Equal(g.Purposes, tt.msg.Purposes) || g.ExpiryHeight != tt.msg.ExpiryHeight || g.Height != 10 {
				t.Errorf("grant = %v", g)
			}
			for _, k := range tt.msg.Keys {
				if got, _ := records.GetKeyCopy(w.store, raw32(k.RecordId), g.Id); !bytes.Equal(got, k.Sealed) {
					t.Errorf("key copy of %s = %x", k.RecordId, got)
				}
				if !slices.Contains(g.KeyedRecords, k.RecordId) {
					t.Errorf("keyed_records %v lacks %s", g.KeyedRecords, k.RecordId)
				}
			}
			for _, list := range []func() ([]*pb.Grant, error){
				func() ([]*pb.Grant, error) { return records.GrantsOfPatient(w.store, raw32(s.pPid)) },
				func() ([]*pb.Grant, error) { return records.GrantsOfGrantee(w.store, raw20(tt.msg.Grantee)) },
			} {
				if gs, err := list(); err != nil || len(gs) != 1 || gs[0].Id != g.Id {
					t.Errorf("grant index = %v, %v", gs, err)
				}
			}
			if a := w.event(records.EventGranted); a["grantee"] != tt.msg.Grantee || a["grantor"] != s.p || a["parent"] != "0" {
				t.Errorf("event = %v", a)
			}
		})
	}
}

func cloneStore(m *memStore) *memStore {
	c := newMemStore()
	for k, v := range m.data {
		c.data[k] = bytes.Clone(v)
	}
	return c
}

func TestForwardGrant(t *testing.T) {
	s := newSharing(t)
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: sorted(s.p1, s.p2)}, Purposes: both, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1, s.p2)})
	fwd := s.lastGrant()
	s.ok(s.p, records.TypeGrant, byIDs(s.a, s.p1))
	plain := s.lastGrant()
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: []string{s.p1}}, Purposes: treatment, ExpiryHeight: 12, Forwardable: true, Keys: keysFor(s.a, s.p1)})
	short := s.lastGrant()
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: []string{s.p1}}, Purposes: treatment, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1)})
	revoked := s.lastGrant()
	s.ok(s.p, records.TypeRevoke, &pb.RevokeGrant{Grant: revoked})
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{ResourceTypes: []string{"Observation"}}, Purposes: both, ExpiryHeight: 100, Forwardable: true})
	typed := s.lastGrant()
	s.height = 20

	forward := func(parent uint64, grantee string, f ...func(*pb.ForwardGrant)) *pb.ForwardGrant {
		m := &pb.ForwardGrant{Parent: parent, Grantee: grantee, Purposes: consultation, ExpiryHeight: 50, Keys: keysFor(grantee, s.p1, s.p2)}
		for _, fn := range f {
			fn(m)
		}
		return m
	}
	tests := []struct {
		name   string
		signer string
		msg    *pb.ForwardGrant
		want   error
		reason string
	}{
		{"the grantee forwards a forwardable grant to a colleague of another hospital", s.a, forward(fwd, s.b), nil, ""},
		{"the forward may keep every purpose and the parent's expiry", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Purposes, m.ExpiryHeight = both, 100 }), nil, ""},
		{"a type grant forwards without keys", s.a, forward(typed, s.b, func(m *pb.ForwardGrant) { m.Keys = nil }), nil, ""},
		{"a non-forwardable grant is not forwarded", s.a, forward(plain, s.b, func(m *pb.ForwardGrant) { m.Keys = keysFor(s.b, s.p1) }), contracts.ErrDenied, "not_forwardable"},
		{"a doctor who is not the grantee may not forward", s.c, forward(fwd, s.b), contracts.ErrDenied, "not_grantee"},
		{"a never-issued grant is not forwarded", s.a, forward(999, s.b), contracts.ErrDenied, "unknown_grant"},
		{"grant 0 is never issued", s.a, forward(0, s.b), contracts.ErrDenied, "unknown_grant"},
		{"an expired grant is not forwarded", s.a, forward(short, s.b, func(m *pb.ForwardGrant) { m.Purposes, m.Keys = treatment, keysFor(s.b, s.p1) }), contracts.ErrDenied, "expired"},
		{"a revoked grant is not forwarded", s.a, forward(revoked, s.b, func(m *pb.ForwardGrant) { m.Purposes, m.Keys = treatment, keysFor(s.b, s.p1) }), contracts.ErrDenied, "revoked"},
		{"a forward may not add a purpose", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Purposes = []pb.Purpose{pb.Purpose_PURPOSE_REFERRAL} }), contracts.ErrDenied, "wider_than_parent"},
		{"a forward may not outlive its parent", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.ExpiryHeight = 101 }), contracts.ErrDenied, "wider_than_parent"},
		{"a forward expiring now is refused", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.ExpiryHeight = 20 }), contracts.ErrInvalidPayload, ""},
		{"a forward to oneself is refused", s.a, forward(fwd, s.a), contracts.ErrInvalidPayload, ""},
		{"a forward to a patient is refused", s.a, forward(fwd, s.q), contracts.ErrInvalidPayload, ""},
		{"a forward to a doctor without a seal key is refused", s.a, forward(fwd, s.nokey), contracts.ErrWrongState, ""},
		{"a forward missing a re-sealed key is refused", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Keys = keysFor(s.b, s.p1) }), contracts.ErrInvalidPayload, ""},
		{"a forward with a key outside the scope is refused", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Keys = keysFor(s.b, s.p1, s.p2, s.p3) }), contracts.ErrInvalidPayload, ""},
		{"a type forward with a key outside the scope is refused", s.a, forward(typed, s.b, func(m *pb.ForwardGrant) { m.Keys = keysFor(s.b, s.p1) }), contracts.ErrInvalidPayload, ""},
		{"a forward with a malformed key is refused", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Keys[0].Sealed = nil }), contracts.ErrInvalidPayload, ""},
		{"a forward with an emergency purpose is refused", s.a, forward(fwd, s.b, func(m *pb.ForwardGrant) { m.Purposes = []pb.Purpose{pb.Purpose_PURPOSE_EMERGENCY} }), contracts.ErrInvalidPayload, ""},
		{"a patient may not forward", s.p, forward(fwd, s.b), contracts.ErrUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := *s.world
			w.t = t
			w.store = cloneStore(s.store)
			err := w.exec(tt.signer, records.TypeForward, tt.msg)
			wantErr(t, err, tt.want, tt.reason)
			if tt.want != nil {
				return
			}
			parent := w.grant(tt.msg.Parent)
			g := w.grant(w.lastGrant())
			want := &pb.Grant{
				Id: g.Id, Pseudonym: s.pPid, Grantor: s.a, Grantee: tt.msg.Grantee, Scope: parent.Scope, Purposes: tt.msg.Purposes,
				ExpiryHeight: tt.msg.ExpiryHeight, Parent: parent.Id, Root: parent.Id, Depth: 1, Height: 20,
			}
			for _, k := range tt.msg.Keys {
				want.KeyedRecords = append(want.KeyedRecords, k.RecordId)
			}
			if !proto.Equal(g, want) {
				t.Errorf("forward = %v\nwant %v", g, want)
			}
			if a := w.event(records.EventForwarded); a["parent"] != itoa(parent.Id) || a["grantor"] != s.a || a["grantee"] != tt.msg.Grantee {
				t.Errorf("event = %v", a)
			}
			if gs, _ := records.GrantsOfPatient(w.store, raw32(s.pPid)); gs[len(gs)-1].Id != g.Id {
				t.Error("the patient does not see the forward among its grants")
			}
		})
	}

	t.Run("a forward chain stops at its depth limit", func(t *testing.T) {
		w := *s.world
		w.t = t
		w.store = cloneStore(s.store)
		holder, parent := s.a, fwd
		for i := 0; i <= records.MaxForwardDepth; i++ {
			next := w.enrolDoctor(op1, "chain"+itoa(uint64(i)), false, false)
			err := w.exec(holder, records.TypeForward, &pb.ForwardGrant{Parent: parent, Grantee: next, Purposes: treatment, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(next, s.p1, s.p2)})
			if i == records.MaxForwardDepth {
				wantErr(t, err, contracts.ErrDenied, "chain_too_long")
				return
			}
			wantErr(t, err, nil, "")
			holder, parent = next, w.lastGrant()
			if g := w.grant(parent); g.Depth != uint32(i+1) || g.Root != fwd {
				t.Fatalf("forward %d = %v", i, g)
			}
		}
	})
}

func TestRevokeGrant(t *testing.T) {
	s := newSharing(t)
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: []string{s.p1}}, Purposes: treatment, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1)})
	root := s.lastGrant()
	s.ok(s.a, records.TypeForward, &pb.ForwardGrant{Parent: root, Grantee: s.b, Purposes: treatment, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.b, s.p1)})
	ab := s.lastGrant()
	s.ok(s.b, records.TypeForward, &pb.ForwardGrant{Parent: ab, Grantee: s.c, Purposes: treatment, ExpiryHeight: 100, Keys: keysFor(s.c, s.p1)})
	bc := s.lastGrant()
	s.ok(s.q, records.TypeGrant, byIDs(s.a, s.q1))
	qGrant := s.lastGrant()

	tests := []struct {
		name   string
		signer string
		grant  uint64
		want   error
	}{
		{"the patient revokes its grant", s.p, root, nil},
		{"the patient revokes a forward in its tree", s.p, bc, nil},
		{"a forwarder revokes its own forward", s.a, ab, nil},
		{"the second forwarder revokes its own forward", s.b, bc, nil},
		{"another patient may not revoke it", s.q, root, contracts.ErrUnauthorized},
		{"a patient may not revoke another patient's grant", s.p, qGrant, contracts.ErrUnauthorized},
		{"the grantee may not revoke the patient's grant", s.a, root, contracts.ErrUnauthorized},
		{"a doctor may not revoke a forward it did not make", s.a, bc, contracts.ErrUnauthorized},
		{"a doctor of another hospital may not revoke a forward it received", s.b, ab, contracts.ErrUnauthorized},
		{"a never-issued grant is not found", s.p, 999, contracts.ErrNotFound},
		{"an operator may not revoke grants", op1, root, contracts.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := *s.world
			w.t = t
			w.store = cloneStore(s.store)
			w.height = 30
			err := w.exec(tt.signer, records.TypeRevoke, &pb.RevokeGrant{Grant: tt.grant})
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			g := w.grant(tt.grant)
			if !g.Revoked || g.RevokedHeight != 30 || g.RevokedBy != tt.signer {
				t.Errorf("revoked grant = %v", g)
			}
			wantErr(t, w.exec(tt.signer, records.TypeRevoke, &pb.RevokeGrant{Grant: tt.grant}), contracts.ErrWrongState, "")
		})
	}
}

func TestForwardAfterErasure(t *testing.T) {
	s := newSharing(t)
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: sorted(s.p1, s.p2)}, Purposes: treatment, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1, s.p2)})
	g := s.lastGrant()
	s.ok(s.p, records.TypeErase, &pb.EraseRecord{RecordId: s.p2})
	fwd := func(keys ...string) *pb.ForwardGrant {
		return &pb.ForwardGrant{Parent: g, Grantee: s.b, Purposes: treatment, ExpiryHeight: 100, Keys: keysFor(s.b, keys...)}
	}
	t.Run("a key for the erased record is refused", func(t *testing.T) {
		wantErr(t, s.exec(s.a, records.TypeForward, fwd(s.p1, s.p2)), contracts.ErrWrongState, "")
	})
	t.Run("the forward carries keys for the records left", func(t *testing.T) {
		wantErr(t, s.exec(s.a, records.TypeForward, fwd(s.p1)), nil, "")
		if g := s.grant(s.lastGrant()); !slices.Equal(g.KeyedRecords, []string{s.p1}) {
			t.Errorf("keyed records = %v", g.KeyedRecords)
		}
	})
}
