package records_test

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func TestRegisterRecord(t *testing.T) {
	pid := pidOf("pat")
	good := registerMsg("r1", pid, 20240229, "Condition", "Encounter")
	mod := func(f func(*pb.RegisterRecord)) *pb.RegisterRecord {
		m := proto.CloneOf(good)
		f(m)
		return m
	}
	tests := []struct {
		name   string
		signer string
		msg    *pb.RegisterRecord
		want   error
	}{
		{"the custodian's operator registers a record of its patient", op1, good, nil},
		{"a record id registered before is a duplicate", op1, mod(func(m *pb.RegisterRecord) { m.RecordId = ridOf("r0") }), contracts.ErrExists},
		{"a hospital where the patient is not enrolled is refused", op2, good, contracts.ErrUnauthorized},
		{"an unknown pseudonym is not found", op1, mod(func(m *pb.RegisterRecord) { m.Pseudonym = pidOf("nobody") }), contracts.ErrNotFound},
		{"the impostor operator is refused", impostor, good, contracts.ErrUnauthorized},
		{"a doctor may not register records", addr("doc"), good, contracts.ErrUnauthorized},
		{"an upper-case record id is refused", op1, mod(func(m *pb.RegisterRecord) { m.RecordId = strings.ToUpper(m.RecordId) }), contracts.ErrInvalidPayload},
		{"a 63-digit record id is refused", op1, mod(func(m *pb.RegisterRecord) { m.RecordId = m.RecordId[:63] }), contracts.ErrInvalidPayload},
		{"a local record id is refused", op1, mod(func(m *pb.RegisterRecord) { m.RecordId = "MRN-0042" }), contracts.ErrInvalidPayload},
		{"a bad pseudonym is refused", op1, mod(func(m *pb.RegisterRecord) { m.Pseudonym = "x" + pid[1:] }), contracts.ErrInvalidPayload},
		{"no resource types is refused", op1, mod(func(m *pb.RegisterRecord) { m.ResourceTypes = nil }), contracts.ErrInvalidPayload},
		{"unsorted resource types are refused", op1, mod(func(m *pb.RegisterRecord) { m.ResourceTypes = []string{"Encounter", "Condition"} }), contracts.ErrInvalidPayload},
		{"a repeated resource type is refused", op1, mod(func(m *pb.RegisterRecord) { m.ResourceTypes = []string{"Condition", "Condition"} }), contracts.ErrInvalidPayload},
		{"a lower-case resource type is refused", op1, mod(func(m *pb.RegisterRecord) { m.ResourceTypes = []string{"condition"} }), contracts.ErrInvalidPayload},
		{"a resource type with a digit is refused", op1, mod(func(m *pb.RegisterRecord) { m.ResourceTypes = []string{"Condition2"} }), contracts.ErrInvalidPayload},
		{"17 resource types are refused", op1, mod(func(m *pb.RegisterRecord) {
			m.ResourceTypes = nil
			for c := 'A'; c <= 'Q'; c++ {
				m.ResourceTypes = append(m.ResourceTypes, string(c)+"x")
			}
		}), contracts.ErrInvalidPayload},
		{"a 31-byte content hash is refused", op1, mod(func(m *pb.RegisterRecord) { m.ContentHash = m.ContentHash[:31] }), contracts.ErrInvalidPayload},
		{"size 0 is refused", op1, mod(func(m *pb.RegisterRecord) { m.Size = 0 }), contracts.ErrInvalidPayload},
		{"a size over the limit is refused", op1, mod(func(m *pb.RegisterRecord) { m.Size = records.MaxRecordSize + 1 }), contracts.ErrInvalidPayload},
		{"30 February is refused", op1, mod(func(m *pb.RegisterRecord) { m.Date = 20230230 }), contracts.ErrInvalidPayload},
		{"29 February of a non-leap year is refused", op1, mod(func(m *pb.RegisterRecord) { m.Date = 19000229 }), contracts.ErrInvalidPayload},
		{"a missing date is refused", op1, mod(func(m *pb.RegisterRecord) { m.Date = 0 }), contracts.ErrInvalidPayload},
		{"a 79-byte sealed key for the patient is refused", op1, mod(func(m *pb.RegisterRecord) { m.SealedKeyPatient = m.SealedKeyPatient[:79] }), contracts.ErrInvalidPayload},
		{"an 81-byte sealed key for the custodian is refused", op1, mod(func(m *pb.RegisterRecord) { m.SealedKeyCustodian = append(m.SealedKeyCustodian, 0) }), contracts.ErrInvalidPayload},
		{"a missing sealed key is refused", op1, mod(func(m *pb.RegisterRecord) { m.SealedKeyCustodian = nil }), contracts.ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolDoctor(op1, "doc", false, false)
			w.enrolPatient(op1, "pat")
			w.register(op1, "r0", pid, 20240101, "Observation")
			w.height = 12
			err := w.exec(tt.signer, records.TypeRegister, tt.msg)
			wantErr(t, err, tt.want, "")
			if tt.want != nil {
				return
			}
			got := w.record(good.RecordId)
			want := &pb.Record{
				Id: good.RecordId, Pseudonym: pid, Custodian: "h1", ResourceTypes: good.ResourceTypes, ContentHash: good.ContentHash,
				Size: good.Size, Date: good.Date, SealedKeyPatient: good.SealedKeyPatient, SealedKeyCustodian: good.SealedKeyCustodian, Height: 12,
			}
			if !proto.Equal(got, want) {
				t.Errorf("record = %v, want %v", got, want)
			}
			rs, err := records.RecordsOfPatient(w.store, raw32(pid))
			if err != nil || len(rs) != 2 {
				t.Fatalf("RecordsOfPatient = %v, %v", rs, err)
			}
			a := w.event(records.EventRegistered)
			if a["record"] != good.RecordId || a["pseudonym"] != pid || a["custodian"] != "h1" || a["resource_types"] != "Condition,Encounter" {
				t.Errorf("event = %v", a)
			}
		})
	}
}

func TestErase(t *testing.T) {
	tests := []struct {
		name   string
		signer string
		record string
		want   error
	}{
		{"the patient erases its record", addr("pat"), ridOf("r1"), nil},
		{"the custodian's operator erases a record it keeps", op1, ridOf("r1"), nil},
		{"another patient may not erase it", addr("other"), ridOf("r1"), contracts.ErrUnauthorized},
		{"the operator of another hospital may not erase it", op2, ridOf("r1"), contracts.ErrUnauthorized},
		{"the impostor may not erase it", impostor, ridOf("r1"), contracts.ErrUnauthorized},
		{"a doctor may not erase records", addr("doc"), ridOf("r1"), contracts.ErrUnauthorized},
		{"an unknown record is not found", addr("pat"), ridOf("nothing"), contracts.ErrNotFound},
		{"a malformed id is refused", addr("pat"), "r1", contracts.ErrInvalidPayload},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			doc := w.enrolDoctor(op1, "doc", false, false)
			pid, _ := w.enrolPatient(op1, "pat")
			w.link(op2, "pat")
			w.enrolPatient(op2, "other")
			r1 := w.register(op1, "r1", pid, 20240101, "Observation")
			r2 := w.register(op2, "r2", pid, 20240101, "Observation")
			w.ok(addr("pat"), records.TypeGrant, &pb.CreateGrant{
				Grantee: doc, Scope: &pb.GrantScope{RecordIds: sorted(r1, r2)}, Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT},
				ExpiryHeight: 100, Keys: keysFor(doc, r1, r2),
			})
			g := w.lastGrant()
			w.height = 20
			err := w.exec(tt.signer, records.TypeErase, &pb.EraseRecord{RecordId: tt.record})
			wantErr(t, err, tt.want, "")
			rec := w.record(r1)
			if tt.want != nil {
				if rec.Erased || len(rec.SealedKeyPatient) == 0 {
					t.Fatalf("a refused erasure changed the record: %v", rec)
				}
				return
			}
			if !rec.Erased || rec.ErasedHeight != 20 || rec.ErasedBy != tt.signer || rec.SealedKeyPatient != nil || rec.SealedKeyCustodian != nil {
				t.Errorf("erased record = %v", rec)
			}
			if len(rec.ContentHash) != 32 || rec.Custodian != "h1" || rec.Pseudonym != pid {
				t.Errorf("the evidence is gone: %v", rec)
			}
			if k, _ := records.GetKeyCopy(w.store, raw32(r1), g); k != nil {
				t.Error("the grant's key copy of the erased record is still in state")
			}
			if k, _ := records.GetKeyCopy(w.store, raw32(r2), g); !bytes.Equal(k, sealed(doc+r2)) {
				t.Error("erasing r1 removed the key copy of r2")
			}
			if a := w.event(records.EventErased); a["record"] != r1 || a["custodian"] != "h1" || a["key_copies_removed"] != "1" {
				t.Errorf("event = %v", a)
			}

			t.Run("an erased record is not erased again", func(t *testing.T) {
				wantErr(t, w.exec(addr("pat"), records.TypeErase, &pb.EraseRecord{RecordId: r1}), contracts.ErrWrongState, "")
			})
			t.Run("an erased record is read by nobody", func(t *testing.T) {
				err := w.exec(doc, records.TypeAccess, &pb.RequestAccess{RecordId: r1, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: g})
				wantErr(t, err, contracts.ErrDenied, "erased")
			})
			t.Run("the rest of the grant still works", func(t *testing.T) {
				w.ok(doc, records.TypeAccess, &pb.RequestAccess{RecordId: r2, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: g})
			})
			t.Run("an erased record is granted to nobody", func(t *testing.T) {
				err := w.exec(addr("pat"), records.TypeGrant, &pb.CreateGrant{
					Grantee: doc, Scope: &pb.GrantScope{RecordIds: []string{r1}}, Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT},
					ExpiryHeight: 100, Keys: keysFor(doc, r1),
				})
				wantErr(t, err, contracts.ErrWrongState, "")
			})
		})
	}
}
