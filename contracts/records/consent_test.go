package records_test

import (
	"math"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestConsentHistory(t *testing.T) {
	w := newWorld(t)
	w.height = 5
	w.ok(op1, records.TypeEnrolPatient, &pb.EnrolPatient{Pseudonym: pidOf("P"), Pubkey: edPub("P"), SealPubkey: sealPub("P"), ResearchConsent: pb.Consent_CONSENT_OPT_IN})
	w.enrolPatient(op1, "never")
	p := addr("P")
	in, out := pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_OPT_OUT
	w.height = 10
	w.ok(p, records.TypeConsent, &pb.SetConsent{Research: out})
	w.height = 20
	w.ok(p, records.TypeConsent, &pb.SetConsent{Research: out})
	w.ok(p, records.TypeConsent, &pb.SetConsent{Research: in}) // same block: the last one holds
	if a := w.event(records.EventConsent); a["pseudonym"] != pidOf("P") || a["research"] != in.String() || a["by"] != p {
		t.Errorf("event = %v", a)
	}

	pid := raw32(pidOf("P"))
	for _, tt := range []struct {
		height int64
		want   pb.Consent // 0: no choice yet
		by     string
	}{
		{-1, 0, ""}, {0, 0, ""}, {4, 0, ""},
		{5, in, op1}, {9, in, op1},
		{10, out, p}, {19, out, p},
		{20, in, p}, {21, in, p}, {math.MaxInt64, in, p},
	} {
		t.Run("consent at height "+itoa(uint64(tt.height)), func(t *testing.T) {
			c, err := records.ConsentAt(w.store, pid, tt.height)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == 0 {
				if c != nil {
					t.Fatalf("consent = %v, want none", c)
				}
			} else if c == nil || c.Research != tt.want || c.By != tt.by || c.Pseudonym != pidOf("P") {
				t.Fatalf("consent = %v, want %s by %s", c, tt.want, tt.by)
			}
			ok, err := records.ResearchAllowed(w.store, pid, tt.height)
			if err != nil || ok != (tt.want == in) {
				t.Errorf("ResearchAllowed = %v, %v", ok, err)
			}
		})
	}
	t.Run("the history lists one choice per height", func(t *testing.T) {
		hs, err := records.ConsentHistory(w.store, pid)
		if err != nil || len(hs) != 3 || hs[0].Height != 5 || hs[1].Height != 10 || hs[2].Height != 20 || hs[2].Research != in {
			t.Fatalf("history = %v, %v", hs, err)
		}
	})
	t.Run("a patient who never chose is not a research subject", func(t *testing.T) {
		if ok, err := records.ResearchAllowed(w.store, raw32(pidOf("never")), 100); ok || err != nil {
			t.Fatalf("ResearchAllowed = %v, %v", ok, err)
		}
	})

	w.ok(op1, "account.register", &pb.RegisterAccount{Pubkey: edPub("plain"), Role: pb.Role_ROLE_PATIENT, Label: "p"})
	w.enrolDoctor(op1, "doc", false, false)
	for _, tt := range []struct {
		name   string
		signer string
		msg    *pb.SetConsent
		want   error
	}{
		{"an unspecified choice is refused", p, &pb.SetConsent{}, contracts.ErrInvalidPayload},
		{"an unknown choice is refused", p, &pb.SetConsent{Research: 5}, contracts.ErrInvalidPayload},
		{"a patient account without a pseudonym may not choose", addr("plain"), &pb.SetConsent{Research: in}, contracts.ErrUnauthorized},
		{"a doctor may not choose for a patient", addr("doc"), &pb.SetConsent{Research: in}, contracts.ErrUnauthorized},
		{"an operator may not choose for a patient", op1, &pb.SetConsent{Research: in}, contracts.ErrUnauthorized},
	} {
		t.Run(tt.name, func(t *testing.T) {
			wantErr(t, w.exec(tt.signer, records.TypeConsent, tt.msg), tt.want, "")
		})
	}
}
