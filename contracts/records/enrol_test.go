package records_test

import (
	"bytes"
	"slices"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestHandlersListExactlyTheirRoles(t *testing.T) {
	op, dr, pt := pb.Role_ROLE_OPERATOR, pb.Role_ROLE_DOCTOR, pb.Role_ROLE_PATIENT
	want := map[string][]pb.Role{
		records.TypeEnrolPatient: {op},
		records.TypeEnrolDoctor:  {op},
		records.TypeUpdateDoctor: {op},
		records.TypeSetGateway:   {op},
		records.TypeRegister:     {op},
		records.TypeImport:       {op},
		records.TypeErase:        {op, pt},
		records.TypeGrant:        {pt},
		records.TypeForward:      {dr},
		records.TypeRevoke:       {dr, pt},
		records.TypeAccess:       {dr},
		records.TypeReview:       {dr, op},
		records.TypeConsent:      {pt},
	}
	hs := records.Handlers()
	if len(hs) != len(want) {
		t.Fatalf("%d handlers, want %d", len(hs), len(want))
	}
	for _, h := range hs {
		t.Run(h.Type+" lets exactly its roles send it", func(t *testing.T) {
			roles, ok := want[h.Type]
			if !ok {
				t.Fatalf("unexpected handler %s", h.Type)
			}
			p := &contracts.Prepared{Handler: h, Msg: h.New()}
			for r := range pb.Role_name {
				role := pb.Role(r)
				if err := p.Authorize(role); (err == nil) != slices.Contains(roles, role) {
					t.Errorf("Authorize(%s) = %v", role, err)
				}
			}
			if h.Validate == nil || h.New() == nil {
				t.Error("incomplete handler")
			}
		})
	}
}

func TestEnrolPatient(t *testing.T) {
	pid := pidOf("pat")
	enrol := func(m *pb.EnrolPatient) *pb.EnrolPatient { return m }
	first := enrol(&pb.EnrolPatient{Pseudonym: pid, Pubkey: edPub("pat"), SealPubkey: sealPub("pat")})
	withKeys := func(mod func(*pb.EnrolPatient)) *pb.EnrolPatient {
		m := proto.CloneOf(first)
		mod(m)
		return m
	}
	tests := []struct {
		name string
		// enrolled: the pseudonym is already enrolled at h1 when the tx runs.
		enrolled bool
		signer   string
		msg      *pb.EnrolPatient
		want     error
		// hospitals the patient is enrolled at afterwards (on success).
		hospitals []string
	}{
		{"an operator enrols a new patient with its keys", false, op1, first, nil, []string{"h1"}},
		{"a first enrolment may carry the consent the patient gave", false, op1, withKeys(func(m *pb.EnrolPatient) { m.ResearchConsent = pb.Consent_CONSENT_OPT_IN }), nil, []string{"h1"}},
		{"another hospital links the same pseudonym without keys", true, op2, &pb.EnrolPatient{Pseudonym: pid}, nil, []string{"h1", "h2"}},
		{"another hospital links the same pseudonym with the same keys", true, op2, first, nil, []string{"h1", "h2"}},
		{"a link with another account's keys is refused", true, op2, withKeys(func(m *pb.EnrolPatient) { m.Pubkey = edPub("other") }), contracts.ErrExists, nil},
		{"a link with another seal key is refused", true, op2, withKeys(func(m *pb.EnrolPatient) { m.SealPubkey = sealPub("other") }), contracts.ErrExists, nil},
		{"enrolling twice at the same hospital is a duplicate", true, op1, &pb.EnrolPatient{Pseudonym: pid}, contracts.ErrExists, nil},
		{"a link does not set consent for the patient", true, op2, &pb.EnrolPatient{Pseudonym: pid, ResearchConsent: pb.Consent_CONSENT_OPT_IN}, contracts.ErrWrongState, nil},
		{"a first enrolment without keys is refused", false, op1, &pb.EnrolPatient{Pseudonym: pid}, contracts.ErrNotFound, nil},
		{"the key of an existing account is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.Pubkey = edPub("op2") }), contracts.ErrExists, nil},
		{"an operator-role account that is not its hospital's operator is refused", false, impostor, first, contracts.ErrUnauthorized, nil},
		{"a pseudonym in upper-case hex is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.Pseudonym = strings.ToUpper(pid) }), contracts.ErrInvalidPayload, nil},
		{"a short pseudonym is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.Pseudonym = pid[:62] }), contracts.ErrInvalidPayload, nil},
		{"a pseudonym that is not hex is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.Pseudonym = "Jane Doe 1970-01-01" + pid[19:] }), contracts.ErrInvalidPayload, nil},
		{"a pubkey without a seal key is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.SealPubkey = nil }), contracts.ErrInvalidPayload, nil},
		{"a short pubkey is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.Pubkey = m.Pubkey[:31] }), contracts.ErrInvalidPayload, nil},
		{"a short seal key is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.SealPubkey = m.SealPubkey[:31] }), contracts.ErrInvalidPayload, nil},
		{"a low-order seal key is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.SealPubkey = make([]byte, 32) }), contracts.ErrInvalidPayload, nil},
		{"an unknown consent value is refused", false, op1, withKeys(func(m *pb.EnrolPatient) { m.ResearchConsent = 7 }), contracts.ErrInvalidPayload, nil},
		{"a doctor may not enrol patients", false, addr("doc"), first, contracts.ErrUnauthorized, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolDoctor(op1, "doc", false, false)
			if tt.enrolled {
				w.enrolPatient(op1, "pat")
			}
			err := w.exec(tt.signer, records.TypeEnrolPatient, tt.msg)
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			p, err := records.GetPatient(w.store, raw32(pid))
			if err != nil || p == nil {
				t.Fatalf("patient = %v, %v", p, err)
			}
			if p.Account != addr("pat") || !slices.Equal(p.Hospitals, tt.hospitals) {
				t.Errorf("patient = %v, want account %s at %v", p, addr("pat"), tt.hospitals)
			}
			acc := w.account(addr("pat"))
			want := &pb.Account{Address: addr("pat"), Pubkey: edPub("pat"), Role: pb.Role_ROLE_PATIENT, Hospital: "h1",
				Label: "patient", CreatedHeight: 10, SealPubkey: sealPub("pat"), Pseudonym: pid}
			if !proto.Equal(acc, want) {
				t.Errorf("account = %v, want %v", acc, want)
			}
			ev := records.EventPatientEnrolled
			if tt.enrolled {
				ev = records.EventPatientLinked
			}
			if a := w.event(ev); a["pseudonym"] != pid || a["account"] != addr("pat") || a["hospital"] != tt.hospitals[len(tt.hospitals)-1] {
				t.Errorf("%s event = %v", ev, a)
			}
		})
	}
}

func TestOnePatientAccountAcrossHospitals(t *testing.T) {
	w := newWorld(t)
	// h2 enrols first, then h1 links: hospitals stay sorted; one account.
	w.enrolPatient(op2, "pat")
	w.link(op1, "pat")
	p, _ := records.GetPatient(w.store, raw32(pidOf("pat")))
	if !slices.Equal(p.Hospitals, []string{"h1", "h2"}) || p.Account != addr("pat") {
		t.Fatalf("patient = %v", p)
	}
	if acc := w.account(addr("pat")); acc.Hospital != "h2" {
		t.Errorf("the account's hospital is the first to enrol it, got %q", acc.Hospital)
	}
	// Both hospitals may now register records about it; the patient lists them all.
	w.register(op1, "r1", pidOf("pat"), 20240101, "Observation")
	w.register(op2, "r2", pidOf("pat"), 20240102, "Condition")
	rs, err := records.RecordsOfPatient(w.store, raw32(pidOf("pat")))
	if err != nil || len(rs) != 2 {
		t.Fatalf("RecordsOfPatient = %v, %v", rs, err)
	}
	got := []string{rs[0].Custodian, rs[1].Custodian}
	slices.Sort(got)
	if !slices.Equal(got, []string{"h1", "h2"}) {
		t.Errorf("custodians = %v", got)
	}
}

func TestEnrolDoctor(t *testing.T) {
	good := &pb.EnrolDoctor{Pubkey: edPub("doc"), SealPubkey: sealPub("doc"), Label: "dr-0042", Emergency: true}
	mod := func(f func(*pb.EnrolDoctor)) *pb.EnrolDoctor {
		m := proto.CloneOf(good)
		f(m)
		return m
	}
	tests := []struct {
		name   string
		signer string
		msg    *pb.EnrolDoctor
		want   error
	}{
		{"an operator enrols a doctor of its hospital with the emergency duty", op1, good, nil},
		{"an operator enrols a reviewer", op2, mod(func(m *pb.EnrolDoctor) { m.Emergency, m.Reviewer = false, true }), nil},
		{"a label of exactly max_label_bytes is accepted", op1, mod(func(m *pb.EnrolDoctor) { m.Label = strings.Repeat("d", 16) }), nil},
		{"a label over max_label_bytes is refused", op1, mod(func(m *pb.EnrolDoctor) { m.Label = strings.Repeat("d", 17) }), contracts.ErrInvalidPayload},
		{"an empty label is refused", op1, mod(func(m *pb.EnrolDoctor) { m.Label = " " }), contracts.ErrInvalidPayload},
		{"a label with a control character is refused", op1, mod(func(m *pb.EnrolDoctor) { m.Label = "dr\n1" }), contracts.ErrInvalidPayload},
		{"a missing seal key is refused", op1, mod(func(m *pb.EnrolDoctor) { m.SealPubkey = nil }), contracts.ErrInvalidPayload},
		{"a low-order seal key is refused", op1, mod(func(m *pb.EnrolDoctor) { m.SealPubkey = append([]byte{1}, make([]byte, 31)...) }), contracts.ErrInvalidPayload},
		{"a 33-byte pubkey is refused", op1, mod(func(m *pb.EnrolDoctor) { m.Pubkey = append(m.Pubkey, 0) }), contracts.ErrInvalidPayload},
		{"an existing account is not enrolled again", op1, mod(func(m *pb.EnrolDoctor) { m.Pubkey = edPub("op2") }), contracts.ErrExists},
		{"the impostor operator is refused", impostor, good, contracts.ErrUnauthorized},
		{"a patient may not enrol doctors", addr("pat"), good, contracts.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolPatient(op1, "pat")
			err := w.exec(tt.signer, records.TypeEnrolDoctor, tt.msg)
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			acc := w.account(addr("doc"))
			hospital := w.account(tt.signer).Hospital
			if acc.Role != pb.Role_ROLE_DOCTOR || acc.Hospital != hospital || !bytes.Equal(acc.SealPubkey, tt.msg.SealPubkey) ||
				acc.Emergency != tt.msg.Emergency || acc.Reviewer != tt.msg.Reviewer || acc.Label != tt.msg.Label || acc.Pseudonym != "" {
				t.Errorf("doctor account = %v", acc)
			}
			if a := w.event(records.EventDoctorEnrolled); a["address"] != addr("doc") || a["hospital"] != hospital {
				t.Errorf("event = %v", a)
			}
		})
	}
}

func TestUpdateDoctor(t *testing.T) {
	tests := []struct {
		name   string
		signer string
		doctor string
		want   error
	}{
		{"the doctor's operator sets its duties", op1, addr("doc"), nil},
		{"the operator of another hospital may not", op2, addr("doc"), contracts.ErrUnauthorized},
		{"the impostor may not", impostor, addr("doc"), contracts.ErrUnauthorized},
		{"a patient is not a doctor", op1, addr("pat"), contracts.ErrInvalidPayload},
		{"an unknown account is not found", op1, addr("nobody"), contracts.ErrNotFound},
		{"a malformed address is refused", op1, "mc1XYZ", contracts.ErrInvalidPayload},
		{"a doctor may not set duties", addr("doc"), addr("doc"), contracts.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolDoctor(op1, "doc", false, false)
			w.enrolPatient(op1, "pat")
			err := w.exec(tt.signer, records.TypeUpdateDoctor, &pb.UpdateDoctor{Doctor: tt.doctor, Emergency: true, Reviewer: true})
			wantErr(t, err, tt.want, "")
			if acc := w.account(addr("doc")); (acc.Emergency && acc.Reviewer) != (tt.want == nil) {
				t.Errorf("doctor = %v", acc)
			}
		})
	}
	t.Run("duties can be taken away", func(t *testing.T) {
		w := newWorld(t)
		w.enrolDoctor(op1, "doc", true, true)
		w.ok(op1, records.TypeUpdateDoctor, &pb.UpdateDoctor{Doctor: addr("doc")})
		if acc := w.account(addr("doc")); acc.Emergency || acc.Reviewer {
			t.Errorf("doctor = %v", acc)
		}
	})
}

func TestSetGateway(t *testing.T) {
	fp := bytes.Repeat([]byte{0xab}, 32)
	tests := []struct {
		name   string
		signer string
		url    string
		fp     []byte
		want   error
	}{
		{"an operator publishes its gateway", op1, "https://gw.h1.example:8443", fp, nil},
		{"a path is allowed", op2, "https://10.0.0.2:8443/medchain", fp, nil},
		{"http is refused", op1, "http://gw.h1.example", fp, contracts.ErrInvalidPayload},
		{"no host is refused", op1, "https:///x", fp, contracts.ErrInvalidPayload},
		{"user info is refused", op1, "https://u:p@gw.h1.example", fp, contracts.ErrInvalidPayload},
		{"a space is refused", op1, "https://gw h1", fp, contracts.ErrInvalidPayload},
		{"a query is refused", op1, "https://gw?x=1", fp, contracts.ErrInvalidPayload},
		{"a URL over the limit is refused", op1, "https://" + strings.Repeat("a", 250), fp, contracts.ErrInvalidPayload},
		{"a short fingerprint is refused", op1, "https://gw", fp[:31], contracts.ErrInvalidPayload},
		{"the impostor may not", impostor, "https://gw", fp, contracts.ErrUnauthorized},
		{"a doctor may not", addr("doc"), "https://gw", fp, contracts.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolDoctor(op1, "doc", false, false)
			err := w.exec(tt.signer, records.TypeSetGateway, &pb.SetGateway{Url: tt.url, CertSha256: tt.fp})
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			h := w.account(tt.signer).Hospital
			g, err := records.GetGateway(w.store, h)
			want := &pb.Gateway{Hospital: h, Url: tt.url, CertSha256: fp, Height: 10}
			if err != nil || !proto.Equal(g, want) {
				t.Fatalf("gateway = %v, %v; want %v", g, err, want)
			}
		})
	}
	t.Run("a new certificate replaces the pinned one", func(t *testing.T) {
		w := newWorld(t)
		w.ok(op1, records.TypeSetGateway, &pb.SetGateway{Url: "https://gw", CertSha256: fp})
		w.height++
		w.ok(op1, records.TypeSetGateway, &pb.SetGateway{Url: "https://gw", CertSha256: bytes.Repeat([]byte{1}, 32)})
		g, _ := records.GetGateway(w.store, "h1")
		if g.CertSha256[0] != 1 || g.Height != 11 {
			t.Errorf("gateway = %v", g)
		}
	})
}
