package sharing_test

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/sharing"
)

// sequence is addr's committed nonce: it moves once per tx on the ledger.
func (w *world) sequence(addr string) uint64 {
	w.t.Helper()
	acc, err := w.sc.Account(w.ctx, addr)
	if err != nil || acc == nil {
		w.t.Fatalf("account %s: %v %v", addr, acc, err)
	}
	return acc.Sequence
}

func addrOf(priv ed25519.PrivateKey) string { return pb.AddressOf(priv.Public().(ed25519.PublicKey)) }

// wantRefusal checks that err is the chain's refusal name whose log says
// reason.
func wantRefusal(t *testing.T, err error, name, reason string) {
	t.Helper()
	if err == nil {
		t.Fatalf("allowed, want refusal %q (%s)", name, reason)
	}
	if got := sharing.CodeName(err); got != name {
		t.Fatalf("refusal %q (%v), want %q", got, err, name)
	}
	if !strings.Contains(err.Error(), reason) {
		t.Fatalf("refusal %q does not say %q", err, reason)
	}
	t.Logf("refused as expected: %v", err)
}

// wantClientError checks that err is a clear error of the client, not a
// refusal by the chain: nothing was sent.
func wantClientError(t *testing.T, err error, says string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error saying %q", says)
	}
	if name := sharing.CodeName(err); name != "" {
		t.Fatalf("refused by the chain (%s: %v), want a client-side error", name, err)
	}
	if !strings.Contains(err.Error(), says) {
		t.Fatalf("error %q does not say %q", err, says)
	}
	t.Logf("refused as expected: %v", err)
}

func fetchOK(t *testing.T, w *world, doc *sharing.Identity, access uint64, want string) *pb.Record {
	t.Helper()
	pt, rec, err := w.sc.Fetch(w.ctx, doc, access)
	if err != nil {
		t.Fatalf("fetch access %d: %v", access, err)
	}
	if string(pt) != want {
		t.Fatalf("fetched %q, want %q", pt, want)
	}
	return rec
}

const (
	obs1 = `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o1"}}]}`
	cond = `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Condition","id":"c1"}}]}`
	obs2 = `{"resourceType":"Bundle","entry":[{"resource":{"resourceType":"Observation","id":"o2"}}]}`
)

func TestEnrolment(t *testing.T) {
	w := newWorld(t)
	op1, op2 := w.h["h1"].operator, w.h["h2"].operator
	doc := w.doctor("dr-ada", "h1", true, false)

	t.Run("an enrolled doctor's account holds its seal key and duties", func(t *testing.T) {
		acc, err := w.sc.Account(w.ctx, doc.Address())
		if err != nil || acc == nil {
			t.Fatalf("%v %v", acc, err)
		}
		if acc.Role != pb.Role_ROLE_DOCTOR || acc.Hospital != "h1" || !bytes.Equal(acc.SealPubkey, doc.SealPub[:]) || !acc.Emergency || acc.Reviewer {
			t.Fatalf("account %+v", acc)
		}
	})
	t.Run("enrolling the same doctor twice is refused as already existing", func(t *testing.T) {
		_, err := w.sc.EnrolDoctor(w.ctx, op2, sharing.DoctorEnrolment{Pub: doc.Public(), SealPub: doc.SealPub, Label: "again"})
		wantRefusal(t, err, "already_exists", "already exists")
	})
	t.Run("a doctor may not enrol doctors", func(t *testing.T) {
		other := w.person("dr-bob")
		_, err := w.sc.EnrolDoctor(w.ctx, doc.Sign, sharing.DoctorEnrolment{Pub: other.Public(), SealPub: other.SealPub, Label: "x"})
		wantRefusal(t, err, "unauthorized", "")
	})
	pat, pid := w.patient("pat-cy", "h1")
	t.Run("a patient enrolled at a second hospital is linked to its one account", func(t *testing.T) {
		addr, err := w.sc.EnrolPatient(w.ctx, op2, pid, nil, [32]byte{}, pb.Consent_CONSENT_UNSPECIFIED)
		if err != nil {
			t.Fatal(err)
		}
		if addr != pat.Address() {
			t.Fatalf("linked to %s, want %s", addr, pat.Address())
		}
	})
	for i, tc := range []struct {
		name, pseudonym, says string
		consent               pb.Consent
		pub                   bool
	}{
		{"a pseudonym that is a name is refused without repeating it", "Jane Doe", "want 64 lowercase hex digits, got 8 characters", 0, true},
		{"an upper-case pseudonym is refused", strings.ToUpper(randomHex(t)), "0-9, a-f", 0, true},
		{"linking with a consent is refused: only the patient changes it", pid, "only the patient", pb.Consent_CONSENT_OPT_OUT, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := w.sequence(addrOf(op1))
			var err error
			p := w.person(fmt.Sprintf("pat-bad-%d", i))
			if tc.pub {
				_, err = w.sc.EnrolPatient(w.ctx, op1, tc.pseudonym, p.Public(), p.SealPub, tc.consent)
			} else {
				_, err = w.sc.EnrolPatient(w.ctx, op1, tc.pseudonym, nil, [32]byte{}, tc.consent)
			}
			wantClientError(t, err, tc.says)
			if strings.Contains(err.Error(), "Jane") {
				t.Fatalf("the error repeats the mistyped pseudonym: %v", err)
			}
			if after := w.sequence(addrOf(op1)); after != before {
				t.Fatalf("the operator's nonce moved from %d to %d: a tx was sent", before, after)
			}
		})
	}
}

func TestAGrantedDoctorFetchesAndDecrypts(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-dee", "h1")
	if _, err := w.sc.EnrolPatient(w.ctx, w.h["h2"].operator, pid, nil, [32]byte{}, 0); err != nil {
		t.Fatal(err)
	}
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	r2 := w.register("h1", pid, pat.SealPub, 20250111, cond, "Condition")
	r3 := w.register("h2", pid, pat.SealPub, 20250112, obs2, "Observation")
	doc := w.doctor("dr-eve", "h2", false, false)

	gid, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{
		Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r3, r1}},
		Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	g, err := w.sc.Grant(w.ctx, gid)
	if err != nil || g == nil {
		t.Fatalf("grant %d: %v %v", gid, g, err)
	}
	t.Run("every proved read of one operation is at one height", func(t *testing.T) {
		w.chain.takeProved()
		if _, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{ResourceTypes: []string{"Observation"}},
			Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100}); err != nil {
			t.Fatal(err)
		}
		hs := w.chain.takeProved()
		if len(hs) < 3 {
			t.Fatalf("only %d proved reads: %v", len(hs), hs)
		}
		for _, h := range hs {
			if h != hs[0] {
				t.Fatalf("proved reads at heights %v, want one snapshot", hs)
			}
		}
	})
	t.Run("the grant carries a key copy for each record, sealed to the doctor", func(t *testing.T) {
		if g.Grantee != doc.Address() || g.Pseudonym != pid || len(g.KeyedRecords) != 2 {
			t.Fatalf("grant %+v", g)
		}
	})
	for _, tc := range []struct {
		name, record, want, custodian string
	}{
		{"the doctor reads a record kept by another hospital", r1, obs1, "h1"},
		{"the doctor reads a record kept by its own hospital", r3, obs2, "h2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aid, err := w.sc.RequestAccess(w.ctx, doc, tc.record, gid, pb.Purpose_PURPOSE_TREATMENT)
			if err != nil {
				t.Fatal(err)
			}
			e, err := w.sc.Access(w.ctx, aid)
			if err != nil || e == nil || e.KeySource != pb.KeySource_KEY_SOURCE_GRANT || e.Custodian != tc.custodian {
				t.Fatalf("access %d: %+v %v", aid, e, err)
			}
			rec := fetchOK(t, w, doc, aid, tc.want)
			if rec.Id != tc.record {
				t.Fatalf("fetched record %s, want %s", rec.Id, tc.record)
			}
		})
	}
	t.Run("a record outside the grant's ids is denied and changes nothing", func(t *testing.T) {
		seq := w.sequence(doc.Address())
		_, err := w.sc.RequestAccess(w.ctx, doc, r2, gid, pb.Purpose_PURPOSE_TREATMENT)
		wantRefusal(t, err, "denied", "out_of_scope")
		if got := w.sequence(doc.Address()); got != seq+1 {
			t.Fatalf("nonce %d after a refused access, want %d: a denial is on the ledger", got, seq+1)
		}
		if es, err := w.sc.Accesses(w.ctx, r2); err != nil || len(es) != 0 {
			t.Fatalf("record %s has access entries %v (%v)", r2, es, err)
		}
	})
	t.Run("the lists show the grant and the accesses", func(t *testing.T) {
		recs, err := w.sc.ListRecords(w.ctx, pid)
		if err != nil || len(recs) != 3 {
			t.Fatalf("records %v %v", recs, err)
		}
		gs, err := w.sc.Grants(w.ctx, pid)
		if err != nil || len(gs) != 2 || gs[0].Id != gid {
			t.Fatalf("patient grants %v %v", gs, err)
		}
		gs, err = w.sc.GranteeGrants(w.ctx, doc.Address())
		if err != nil || len(gs) != 2 || gs[0].Id != gid {
			t.Fatalf("grantee grants %v %v", gs, err)
		}
		es, err := w.sc.DoctorAccesses(w.ctx, doc.Address())
		if err != nil || len(es) != 2 {
			t.Fatalf("doctor accesses %v %v", es, err)
		}
		es, err = w.sc.Accesses(w.ctx, r1)
		if err != nil || len(es) != 1 || es[0].Doctor != doc.Address() {
			t.Fatalf("record accesses %v %v", es, err)
		}
	})
}

func TestAFilterGrantCoversLaterRecordsThroughTheCustodian(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-fay", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	r2 := w.register("h1", pid, pat.SealPub, 20250110, cond, "Condition")
	doc := w.doctor("dr-gil", "h2", false, false)
	gid, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{
		Grantee: doc.Address(), Scope: sharing.Scope{ResourceTypes: []string{"Observation"}, DateFrom: 20250101, DateTo: 20251231},
		Purposes: []pb.Purpose{pb.Purpose_PURPOSE_CONSULTATION, pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100,
	})
	if err != nil {
		t.Fatal(err)
	}
	r3 := w.register("h1", pid, pat.SealPub, 20250601, obs2, "Observation")
	g, _ := w.sc.Grant(w.ctx, gid)
	if len(g.KeyedRecords) != 1 || g.KeyedRecords[0] != r1 {
		t.Fatalf("keyed records %v, want only %s (the one observation registered)", g.KeyedRecords, r1)
	}
	for _, tc := range []struct {
		name, record, want string
		source             pb.KeySource
	}{
		{"a record keyed in the grant is read with the grant's copy", r1, obs1, pb.KeySource_KEY_SOURCE_GRANT},
		{"a record registered after the grant is read with the key the custodian seals", r3, obs2, pb.KeySource_KEY_SOURCE_CUSTODIAN},
	} {
		t.Run(tc.name, func(t *testing.T) {
			aid, err := w.sc.RequestAccess(w.ctx, doc, tc.record, gid, pb.Purpose_PURPOSE_CONSULTATION)
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := w.sc.Access(w.ctx, aid); e.KeySource != tc.source {
				t.Fatalf("key source %s, want %s", e.KeySource, tc.source)
			}
			fetchOK(t, w, doc, aid, tc.want)
		})
	}
	t.Run("a record of a type outside the filter is denied", func(t *testing.T) {
		_, err := w.sc.RequestAccess(w.ctx, doc, r2, gid, pb.Purpose_PURPOSE_TREATMENT)
		wantRefusal(t, err, "denied", "out_of_scope")
	})
}

func TestForwarding(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-hal", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	d1 := w.doctor("dr-ivy", "h1", false, false)
	d2 := w.doctor("dr-jon", "h2", false, false)
	d3 := w.doctor("dr-kim", "h2", false, false)
	expiry := w.chain.Height() + 100
	grant := func(forwardable bool) uint64 {
		t.Helper()
		id, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{
			Grantee: d1.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}},
			Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT, pb.Purpose_PURPOSE_CONSULTATION}, ExpiryHeight: expiry, Forwardable: forwardable,
		})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	fwdable, plain := grant(true), grant(false)

	var child uint64
	t.Run("a colleague reads a forwarded record with the re-sealed key", func(t *testing.T) {
		var err error
		child, err = w.sc.ForwardGrant(w.ctx, d1, sharing.ForwardRequest{Parent: fwdable, Grantee: d2.Address(), Purposes: []pb.Purpose{pb.Purpose_PURPOSE_CONSULTATION}})
		if err != nil {
			t.Fatal(err)
		}
		g, _ := w.sc.Grant(w.ctx, child)
		if g.Parent != fwdable || g.ExpiryHeight != expiry || len(g.KeyedRecords) != 1 {
			t.Fatalf("forward %+v", g)
		}
		aid, err := w.sc.RequestAccess(w.ctx, d2, r1, child, pb.Purpose_PURPOSE_CONSULTATION)
		if err != nil {
			t.Fatal(err)
		}
		fetchOK(t, w, d2, aid, obs1)
	})
	for _, tc := range []struct {
		name   string
		by     *sharing.Identity
		req    sharing.ForwardRequest
		code   string // "" for a client-side error
		reason string
	}{
		{"forwarding a grant that is not forwardable is denied", d1, sharing.ForwardRequest{Parent: plain, Grantee: d3.Address()}, "denied", "not_forwardable"},
		{"a forward wider than its parent is denied", d1, sharing.ForwardRequest{Parent: fwdable, Grantee: d3.Address(), Purposes: []pb.Purpose{pb.Purpose_PURPOSE_REFERRAL}}, "denied", "wider_than_parent"},
		{"forwarding a forward that is not forwardable is denied", d2, sharing.ForwardRequest{Parent: child, Grantee: d3.Address()}, "denied", "not_forwardable"},
		{"a doctor cannot forward another doctor's grant", d3, sharing.ForwardRequest{Parent: fwdable, Grantee: d3.Address()}, "", "only its grantee forwards it"},
		{"a grant never issued cannot be forwarded", d1, sharing.ForwardRequest{Parent: 999, Grantee: d3.Address()}, "", "never issued"},
		{"forwarding to a patient is refused", d1, sharing.ForwardRequest{Parent: fwdable, Grantee: pat.Address()}, "", "grants go to doctors"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := w.sc.ForwardGrant(w.ctx, tc.by, tc.req)
			if tc.code == "" {
				wantClientError(t, err, tc.reason)
			} else {
				wantRefusal(t, err, tc.code, tc.reason)
			}
		})
	}
	t.Run("a doctor revokes its own forward and the colleague is denied", func(t *testing.T) {
		if err := w.sc.RevokeGrant(w.ctx, d1, child); err != nil {
			t.Fatal(err)
		}
		_, err := w.sc.RequestAccess(w.ctx, d2, r1, child, pb.Purpose_PURPOSE_CONSULTATION)
		wantRefusal(t, err, "denied", "revoked")
	})
	t.Run("a doctor may not revoke the patient's grant", func(t *testing.T) {
		wantRefusal(t, w.sc.RevokeGrant(w.ctx, d1, fwdable), "unauthorized", "forwards it made")
	})
	t.Run("revoking the patient's grant cuts every forward below it", func(t *testing.T) {
		f2, err := w.sc.ForwardGrant(w.ctx, d1, sharing.ForwardRequest{Parent: fwdable, Grantee: d3.Address()})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.sc.RevokeGrant(w.ctx, pat, fwdable); err != nil {
			t.Fatal(err)
		}
		_, err = w.sc.RequestAccess(w.ctx, d3, r1, f2, pb.Purpose_PURPOSE_TREATMENT)
		wantRefusal(t, err, "denied", "revoked")
	})
}

func TestAccessDenials(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-lou", "h1")
	other, opid := w.patient("pat-max", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	rOther := w.register("h1", opid, other.SealPub, 20250110, cond, "Condition")
	doc := w.doctor("dr-ned", "h2", false, false)
	stranger := w.doctor("dr-oz", "h2", false, false)
	grant := func(expiry int64) uint64 {
		t.Helper()
		id, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}},
			Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: expiry})
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	valid := grant(w.chain.Height() + 1000)
	revoked := grant(w.chain.Height() + 1000)
	if err := w.sc.RevokeGrant(w.ctx, pat, revoked); err != nil {
		t.Fatal(err)
	}
	expired := grant(w.chain.Height() + 2)
	w.chain.Advance(3)

	for _, tc := range []struct {
		name    string
		by      *sharing.Identity
		record  string
		grant   uint64
		purpose pb.Purpose
		reason  string
	}{
		{"a revoked grant is denied", doc, r1, revoked, pb.Purpose_PURPOSE_TREATMENT, "revoked"},
		{"an expired grant is denied", doc, r1, expired, pb.Purpose_PURPOSE_TREATMENT, "expired"},
		{"a purpose the grant does not list is denied", doc, r1, valid, pb.Purpose_PURPOSE_REFERRAL, "purpose"},
		{"another doctor using the grant is denied", stranger, r1, valid, pb.Purpose_PURPOSE_TREATMENT, "not_grantee"},
		{"a grant never issued is denied", doc, r1, 4242, pb.Purpose_PURPOSE_TREATMENT, "unknown_grant"},
		{"another patient's record under this patient's grant is denied", doc, rOther, valid, pb.Purpose_PURPOSE_TREATMENT, "other_patient"},
		{"no grant at all is denied", doc, r1, 0, pb.Purpose_PURPOSE_TREATMENT, "no_grant"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before, _ := w.sc.Accesses(w.ctx, tc.record)
			_, err := w.sc.RequestAccess(w.ctx, tc.by, tc.record, tc.grant, tc.purpose)
			wantRefusal(t, err, "denied", tc.reason)
			var ref *sharing.Refusal
			if !errors.As(err, &ref) || ref.Height == 0 || ref.TxType != "access.request" {
				t.Fatalf("the denial is not a Refusal in a block: %#v", err)
			}
			var ce *client.CodeError
			if !errors.As(err, &ce) || ce.Stage != "deliver" {
				t.Fatalf("the denial does not unwrap to a deliver-stage CodeError: %v", err)
			}
			after, _ := w.sc.Accesses(w.ctx, tc.record)
			if len(after) != len(before) {
				t.Fatalf("a denied request wrote an access entry: %d then %d", len(before), len(after))
			}
		})
	}
	t.Run("the valid grant still reads", func(t *testing.T) {
		aid, err := w.sc.RequestAccess(w.ctx, doc, r1, valid, pb.Purpose_PURPOSE_TREATMENT)
		if err != nil {
			t.Fatal(err)
		}
		fetchOK(t, w, doc, aid, obs1)
	})
}

func TestBreakGlassAndReview(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-pia", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	er := w.doctor("dr-quinn", "h2", true, false)
	plain := w.doctor("dr-ray", "h2", false, false)
	reviewer1 := w.doctor("dr-sol", "h1", false, true)
	reviewer2 := w.doctor("dr-tam", "h2", true, true)

	t.Run("breaking the glass without the emergency duty is denied", func(t *testing.T) {
		_, err := w.sc.BreakGlass(w.ctx, plain, r1, "unconscious patient in the emergency room")
		wantRefusal(t, err, "denied", "no_emergency_role")
	})
	t.Run("breaking the glass without a reason is denied", func(t *testing.T) {
		_, err := w.sc.BreakGlass(w.ctx, er, r1, "   ")
		wantRefusal(t, err, "denied", "no_reason")
	})
	var aid uint64
	t.Run("an emergency doctor breaks the glass and decrypts with the custodian's key", func(t *testing.T) {
		var err error
		aid, err = w.sc.BreakGlass(w.ctx, er, r1, "unconscious patient in the emergency room")
		if err != nil {
			t.Fatal(err)
		}
		e, _ := w.sc.Access(w.ctx, aid)
		if !e.BreakGlass || e.KeySource != pb.KeySource_KEY_SOURCE_CUSTODIAN || e.Review == nil || !e.Review.Open {
			t.Fatalf("entry %+v", e)
		}
		fetchOK(t, w, er, aid, obs1)
		open, err := w.sc.OpenReviews(w.ctx, "h1")
		if err != nil || len(open) != 1 || open[0].Id != aid {
			t.Fatalf("open reviews of h1: %v %v", open, err)
		}
	})
	for _, tc := range []struct {
		name   string
		signer []byte
		code   string
		says   string
	}{
		{"the doctor who broke the glass may not review it", er.Sign, "unauthorized", "reviewer duty"},
		{"a reviewer of another hospital may not review it", reviewer2.Sign, "unauthorized", "its reviewers close it"},
		{"a patient may not review it", pat.Sign, "unauthorized", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantRefusal(t, w.sc.Review(w.ctx, tc.signer, aid, pb.Finding_FINDING_JUSTIFIED, "ok"), tc.code, tc.says)
		})
	}
	t.Run("a reviewer of the custodian closes it", func(t *testing.T) {
		if err := w.sc.Review(w.ctx, reviewer1.Sign, aid, pb.Finding_FINDING_JUSTIFIED, "ER admission confirmed"); err != nil {
			t.Fatal(err)
		}
		e, _ := w.sc.Access(w.ctx, aid)
		if e.Review.Open || e.Review.Reviewer != reviewer1.Address() || e.Review.Finding != pb.Finding_FINDING_JUSTIFIED {
			t.Fatalf("review %+v", e.Review)
		}
		if open, _ := w.sc.OpenReviews(w.ctx, ""); len(open) != 0 {
			t.Fatalf("still open: %v", open)
		}
	})
	t.Run("a closed review cannot be reviewed again", func(t *testing.T) {
		wantRefusal(t, w.sc.Review(w.ctx, w.h["h1"].operator, aid, pb.Finding_FINDING_UNJUSTIFIED, ""), "wrong_state", "reviewed at height")
	})
}

func TestGrantsRefusedBeforeAnythingIsSent(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-uma", "h1")
	other, opid := w.patient("pat-vic", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	gone := w.register("h1", pid, pat.SealPub, 20250110, cond, "Condition")
	rOther := w.register("h1", opid, other.SealPub, 20250110, cond, "Condition")
	if err := w.sc.Erase(w.ctx, pat.Sign, gone); err != nil {
		t.Fatal(err)
	}
	doc := w.doctor("dr-wes", "h2", false, false)
	unenrolled := w.person("dr-unenrolled")
	exp := w.chain.Height() + 50
	treat := []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}
	ids := func(ids ...string) sharing.Scope { return sharing.Scope{RecordIDs: ids} }

	for _, tc := range []struct {
		name string
		by   *sharing.Identity
		req  sharing.GrantRequest
		says string
	}{
		{"a grant to a patient is refused", pat, sharing.GrantRequest{Grantee: other.Address(), Scope: ids(r1), Purposes: treat, ExpiryHeight: exp}, "grants go to doctors"},
		{"a grant to an address without an account is refused", pat, sharing.GrantRequest{Grantee: unenrolled.Address(), Scope: ids(r1), Purposes: treat, ExpiryHeight: exp}, "no account"},
		{"a grant of another patient's record is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1, rOther), Purposes: treat, ExpiryHeight: exp}, "is not yours"},
		{"a grant of an erased record is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(gone), Purposes: treat, ExpiryHeight: exp}, "erased"},
		{"a grant by a key that is no patient's is refused", unenrolled, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1), Purposes: treat, ExpiryHeight: exp}, "not an enrolled patient"},
		{"a grant without purposes is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1), ExpiryHeight: exp}, "purposes"},
		{"a grant for emergencies is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1), Purposes: []pb.Purpose{pb.Purpose_PURPOSE_EMERGENCY}, ExpiryHeight: exp}, "break-glass only"},
		{"a grant without an expiry is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1), Purposes: treat}, "expiry_height"},
		{"a grant with ids and a filter is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}, ResourceTypes: []string{"Observation"}}, Purposes: treat, ExpiryHeight: exp}, "not both"},
		{"a grant with an empty scope is refused", pat, sharing.GrantRequest{Grantee: doc.Address(), Purposes: treat, ExpiryHeight: exp}, "scope is empty"},
		{"a grant to a malformed address is refused", pat, sharing.GrantRequest{Grantee: "mc1xyz", Scope: ids(r1), Purposes: treat, ExpiryHeight: exp}, "grantee"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var seq uint64
			if acc, _ := w.sc.Account(w.ctx, tc.by.Address()); acc != nil {
				seq = acc.Sequence
			}
			_, err := w.sc.CreateGrant(w.ctx, tc.by, tc.req)
			wantClientError(t, err, tc.says)
			if acc, _ := w.sc.Account(w.ctx, tc.by.Address()); acc != nil && acc.Sequence != seq {
				t.Fatalf("nonce moved from %d to %d: a tx was sent", seq, acc.Sequence)
			}
		})
	}
	t.Run("an expiry already passed is refused by the chain", func(t *testing.T) {
		_, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: ids(r1), Purposes: treat, ExpiryHeight: 1})
		wantRefusal(t, err, "invalid_payload", "not after the current height")
	})
	if gs, _ := w.sc.Grants(w.ctx, pid); len(gs) != 0 {
		t.Fatalf("refused grants left grants: %v", gs)
	}
}

func TestEraseAndConsent(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-xia", "h1")
	other, _ := w.patient("pat-yan", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	doc := w.doctor("dr-zed", "h2", false, false)
	gid, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}},
		Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100})
	if err != nil {
		t.Fatal(err)
	}
	aid, err := w.sc.RequestAccess(w.ctx, doc, r1, gid, pb.Purpose_PURPOSE_TREATMENT)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a patient may not erase another patient's record", func(t *testing.T) {
		wantRefusal(t, w.sc.Erase(w.ctx, other.Sign, r1), "unauthorized", "another patient's")
	})
	t.Run("a doctor may not erase records", func(t *testing.T) {
		wantRefusal(t, w.sc.Erase(w.ctx, doc.Sign, r1), "unauthorized", "")
	})
	t.Run("a patient may not grant another patient's record", func(t *testing.T) {
		_, err := w.sc.CreateGrant(w.ctx, other, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}},
			Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100})
		wantClientError(t, err, "not yours")
	})
	t.Run("the patient erases its record and nobody reads it again", func(t *testing.T) {
		if err := w.sc.Erase(w.ctx, pat.Sign, r1); err != nil {
			t.Fatal(err)
		}
		rec, _ := w.sc.Record(w.ctx, r1)
		if !rec.Erased || rec.SealedKeyPatient != nil || rec.SealedKeyCustodian != nil {
			t.Fatalf("record after erasure %+v", rec)
		}
		if _, _, err := w.sc.Fetch(w.ctx, doc, aid); err == nil || !strings.Contains(err.Error(), "erased") {
			t.Fatalf("fetch after erasure: %v", err)
		}
		_, err := w.sc.RequestAccess(w.ctx, doc, r1, gid, pb.Purpose_PURPOSE_TREATMENT)
		wantRefusal(t, err, "denied", "erased")
	})
	t.Run("erasing twice is refused", func(t *testing.T) {
		wantRefusal(t, w.sc.Erase(w.ctx, pat.Sign, r1), "wrong_state", "erased at height")
	})
	t.Run("a patient opts out of research", func(t *testing.T) {
		if err := w.sc.SetConsent(w.ctx, pat, pb.Consent_CONSENT_OPT_OUT); err != nil {
			t.Fatal(err)
		}
		q, err := w.chain.Query(w.ctx, fmt.Sprintf("/records/patient/%s/consent", pid), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		var h pb.ConsentHistory
		if err := tx.Unmarshal(q.Value, &h); err != nil {
			t.Fatal(err)
		}
		if n := len(h.Entries); n != 2 || h.Entries[n-1].Research != pb.Consent_CONSENT_OPT_OUT || h.Entries[n-1].By != pat.Address() {
			t.Fatalf("consent history %v", h.Entries)
		}
	})
	t.Run("a doctor has no research consent to set", func(t *testing.T) {
		wantRefusal(t, w.sc.SetConsent(w.ctx, doc, pb.Consent_CONSENT_OPT_IN), "unauthorized", "")
	})
}

func TestFetchRefusesWhatDoesNotCheckOut(t *testing.T) {
	w := newWorld(t)
	pat, pid := w.patient("pat-abe", "h1")
	r1 := w.register("h1", pid, pat.SealPub, 20250110, obs1, "Observation")
	doc := w.doctor("dr-bea", "h2", false, false)
	colleague := w.doctor("dr-cal", "h2", false, false)
	gid, err := w.sc.CreateGrant(w.ctx, pat, sharing.GrantRequest{Grantee: doc.Address(), Scope: sharing.Scope{RecordIDs: []string{r1}},
		Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: w.chain.Height() + 100})
	if err != nil {
		t.Fatal(err)
	}
	aid, err := w.sc.RequestAccess(w.ctx, doc, r1, gid, pb.Purpose_PURPOSE_TREATMENT)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		tamper func(*sharing.GatewayResult)
		by     *sharing.Identity
		access uint64
		says   string
	}{
		{"a ciphertext altered in transit is refused", func(r *sharing.GatewayResult) { r.Ciphertext[20] ^= 1 }, doc, aid, "content hash"},
		{"a gateway that lies about the key source is refused", func(r *sharing.GatewayResult) { r.KeySource = sharing.KeySourceCustodian }, doc, aid, "key is from"},
		{"another doctor's access entry is refused before the gateway is asked", nil, colleague, aid, "not key"},
		{"an access entry that does not exist is refused", nil, doc, 777, "does not exist"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w.gw.tamper = tc.tamper
			defer func() { w.gw.tamper = nil }()
			pt, _, err := w.sc.Fetch(w.ctx, tc.by, tc.access)
			if err == nil || pt != nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("fetch: %q %v, want an error saying %q", pt, err, tc.says)
			}
		})
	}
	t.Run("a client without a gateway fetcher says so", func(t *testing.T) {
		sc := *w.sc
		sc.Gateway = nil
		if _, _, err := sc.Fetch(w.ctx, doc, aid); err == nil || !strings.Contains(err.Error(), "no gateway client") {
			t.Fatalf("fetch: %v", err)
		}
	})
	t.Run("the untampered fetch decrypts", func(t *testing.T) {
		fetchOK(t, w, doc, aid, obs1)
	})
}

func TestCodeName(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want string
	}{
		{"no error has no code", nil, ""},
		{"a plain error has no code", errors.New("boom"), ""},
		{"a denial in a block is denied", &sharing.Refusal{TxType: "access.request", Err: &client.CodeError{Code: 16, Log: "denied: x"}}, "denied"},
		{"a CheckTx refusal wrapped in context keeps its name", fmt.Errorf("grant.create: %w", &client.CodeError{Code: 10, Stage: "check"}), "unauthorized"},
		{"an internal failure is internal", &client.CodeError{Code: 100}, "internal"},
		{"an unknown code says its number", &client.CodeError{Code: 77}, "code 77"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := sharing.CodeName(tc.err); got != tc.want {
				t.Fatalf("CodeName = %q, want %q", got, tc.want)
			}
		})
	}
}
