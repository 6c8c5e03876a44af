package records_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// FuzzRecordsPayload: any payload bytes of any records tx type, from any
// kind of signer, through Prepare, Authorize and Exec as the app runs
// them, never panic, and every refusal wraps a contract sentinel (an
// unmapped error is "internal" and halts the node in FinalizeBlock). The
// state has grants, a forward, accesses and an open break-glass entry, so
// Exec gets past the lookups; each run's writes go to a dropped Cache.
func FuzzRecordsPayload(f *testing.F) {
	s := newSharing(f)
	s.ok(s.p, records.TypeGrant, &pb.CreateGrant{Grantee: s.a, Scope: &pb.GrantScope{RecordIds: sorted(s.p1, s.p2)}, Purposes: both, ExpiryHeight: 100, Forwardable: true, Keys: keysFor(s.a, s.p1, s.p2)})
	s.ok(s.a, records.TypeForward, &pb.ForwardGrant{Parent: 1, Grantee: s.b, Purposes: treatment, ExpiryHeight: 50, Forwardable: true, Keys: keysFor(s.b, s.p1, s.p2)})
	s.ok(s.emergency, records.TypeAccess, &pb.RequestAccess{RecordId: s.q1, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "x"})
	hs := records.Handlers()
	router := contracts.NewRouter(hs...)
	signers := []string{op1, op2, impostor, s.a, s.b, s.emergency, s.reviewer, s.p, s.q, s.nokey}
	seed := func(typ, signer int, m proto.Message) {
		bz, err := proto.Marshal(m)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(uint8(typ), uint8(signer), bz)
	}
	index := map[string]int{}
	for i, h := range hs {
		index[h.Type] = i
	}
	seed(index[records.TypeEnrolPatient], 0, &pb.EnrolPatient{Pseudonym: s.pPid})
	seed(index[records.TypeEnrolDoctor], 1, &pb.EnrolDoctor{Pubkey: edPub("x"), SealPubkey: sealPub("x"), Label: "d"})
	seed(index[records.TypeUpdateDoctor], 0, &pb.UpdateDoctor{Doctor: s.a, Emergency: true})
	seed(index[records.TypeSetGateway], 0, &pb.SetGateway{Url: "https://gw", CertSha256: make([]byte, 32)})
	seed(index[records.TypeRegister], 0, registerMsg("fz", s.pPid, 20240101, "Observation"))
	seed(index[records.TypeImport], 0, &pb.ImportBatch{Items: []*pb.ImportItem{
		{Step: &pb.ImportItem_Enrol{Enrol: &pb.EnrolPatient{Pseudonym: pidOf("fz-new"), Pubkey: edPub("fz-new"), SealPubkey: sealPub("fz-new")}}},
		{Step: &pb.ImportItem_Record{Record: registerMsg("fz2", pidOf("fz-new"), 20240101, "Encounter")}},
	}})
	seed(index[records.TypeErase], 7, &pb.EraseRecord{RecordId: s.p1})
	seed(index[records.TypeGrant], 7, byIDs(s.b, s.p1))
	seed(index[records.TypeForward], 4, &pb.ForwardGrant{Parent: 2, Grantee: s.emergency, Purposes: treatment, ExpiryHeight: 40, Keys: keysFor(s.emergency, s.p1, s.p2)})
	seed(index[records.TypeRevoke], 3, &pb.RevokeGrant{Grant: 2})
	seed(index[records.TypeAccess], 4, &pb.RequestAccess{RecordId: s.p1, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: 2})
	seed(index[records.TypeReview], 6, &pb.ReviewBreakGlass{Access: 1, Finding: pb.Finding_FINDING_JUSTIFIED})
	seed(index[records.TypeConsent], 8, &pb.SetConsent{Research: pb.Consent_CONSENT_OPT_OUT})
	f.Add(uint8(0), uint8(0), []byte{0x0a, 0xff, 0xff})
	block := s.block()
	f.Fuzz(func(t *testing.T, typ, signer uint8, payload []byte) {
		h := hs[int(typ)%len(hs)]
		p, err := router.Prepare(h.Type, payload)
		if err != nil {
			if class(err) != contracts.ErrInvalidPayload {
				t.Fatalf("Prepare: %v is not ErrInvalidPayload", err)
			}
			return
		}
		acc, err := accounts.GetAccount(s.store, signers[int(signer)%len(signers)])
		if err != nil || acc == nil {
			t.Fatalf("signer: %v", err)
		}
		if err := p.Authorize(acc.Role); err != nil {
			return
		}
		ctx := contracts.NewContext(block, contracts.NewCache(s.store), acc, 0)
		if err := p.Handler.Exec(ctx, p.Msg); err != nil && class(err) == nil {
			t.Fatalf("%s refused with an unmapped error (internal, node halt): %v", h.Type, err)
		}
	})
}
