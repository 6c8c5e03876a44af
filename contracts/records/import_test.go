package records_test

import (
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

func enrolStep(name string) *pb.ImportItem {
	return &pb.ImportItem{Step: &pb.ImportItem_Enrol{Enrol: &pb.EnrolPatient{Pseudonym: pidOf(name), Pubkey: edPub(name), SealPubkey: sealPub(name)}}}
}

func linkStep(name string) *pb.ImportItem {
	return &pb.ImportItem{Step: &pb.ImportItem_Enrol{Enrol: &pb.EnrolPatient{Pseudonym: pidOf(name)}}}
}

func recordStep(name, patient string, date uint32) *pb.ImportItem {
	return &pb.ImportItem{Step: &pb.ImportItem_Record{Record: registerMsg(name, pidOf(patient), date, "Encounter")}}
}

// TestImportBatchEqualsItsSteps: a batch leaves exactly the state and the
// events that its steps, sent as their own txs, would.
func TestImportBatchEqualsItsSteps(t *testing.T) {
	steps := []*pb.ImportItem{
		enrolStep("ann"), recordStep("ann-1", "ann", 20240101), recordStep("ann-2", "ann", 20240202),
		linkStep("bob"), recordStep("bob-1", "bob", 20230303),
		enrolStep("cid"),
	}
	batch, one := newWorld(t), newWorld(t)
	for _, w := range []*world{batch, one} {
		w.enrolPatient(op2, "bob")
		w.height = 9
	}
	batch.ok(op1, records.TypeImport, &pb.ImportBatch{Items: steps})
	var events []contracts.Event
	for _, s := range steps {
		switch s := s.Step.(type) {
		case *pb.ImportItem_Enrol:
			one.ok(op1, records.TypeEnrolPatient, s.Enrol)
		case *pb.ImportItem_Record:
			one.ok(op1, records.TypeRegister, s.Record)
		}
		events = append(events, one.events...)
	}
	if got, want := snapshot(t, batch.store), snapshot(t, one.store); got != want {
		t.Errorf("state after the batch differs from the state after its steps:\n%s\nwant\n%s", got, want)
	}
	if len(batch.events) != len(events) {
		t.Fatalf("the batch emitted %d events, its steps %d", len(batch.events), len(events))
	}
	for i := range events {
		if batch.events[i].Type != events[i].Type || len(batch.events[i].Attrs) != len(events[i].Attrs) {
			t.Errorf("event %d = %v, want %v", i, batch.events[i], events[i])
		}
	}
}

func TestImportBatchRefusals(t *testing.T) {
	many := make([]*pb.ImportItem, records.MaxImportItems+1)
	for i := range many {
		many[i] = enrolStep("p" + strings.Repeat("x", i%7))
	}
	badRecord := recordStep("r1", "ann", 20240101)
	badRecord.GetRecord().ContentHash = badRecord.GetRecord().ContentHash[:31]
	tests := []struct {
		name    string
		signer  string
		items   []*pb.ImportItem
		want    error
		mention string
	}{
		{"an empty batch is refused", op1, nil, contracts.ErrInvalidPayload, "1 to 1000"},
		{"a batch over the limit is refused", op1, many, contracts.ErrInvalidPayload, "split it"},
		{"a step that is neither enrol nor record is refused", op1, []*pb.ImportItem{enrolStep("ann"), {}}, contracts.ErrInvalidPayload, "items[1]"},
		{"a malformed record names its step", op1, []*pb.ImportItem{enrolStep("ann"), badRecord}, contracts.ErrInvalidPayload, "items[1]: content_hash"},
		{"a record before its patient's enrolment is refused whole", op1, []*pb.ImportItem{recordStep("r1", "ann", 20240101), enrolStep("ann")}, contracts.ErrNotFound, "items[0]"},
		{"a record registered twice in one batch is refused whole", op1, []*pb.ImportItem{enrolStep("ann"), recordStep("r1", "ann", 20240101), recordStep("r1", "ann", 20240101)}, contracts.ErrExists, "items[2]"},
		{"a patient enrolled before is refused whole", op1, []*pb.ImportItem{enrolStep("new"), enrolStep("old")}, contracts.ErrExists, "items[1]"},
		{"a doctor may not import", addr("doc"), []*pb.ImportItem{enrolStep("ann")}, contracts.ErrUnauthorized, ""},
		{"the impostor operator is refused", impostor, []*pb.ImportItem{enrolStep("ann")}, contracts.ErrUnauthorized, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWorld(t)
			w.enrolDoctor(op1, "doc", false, false)
			w.enrolPatient(op1, "old")
			before := snapshot(t, w.store)
			err := w.exec(tt.signer, records.TypeImport, &pb.ImportBatch{Items: tt.items})
			wantErr(t, err, tt.want, "")
			if tt.mention != "" && (err == nil || !strings.Contains(err.Error(), tt.mention)) {
				t.Errorf("error %v does not mention %q", err, tt.mention)
			}
			if after := snapshot(t, w.store); after != before {
				t.Error("a refused batch changed the state")
			}
		})
	}
}
