package records

import (
	"fmt"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// MaxImportItems bounds one record.import tx: about 400 KB of registrations,
// well inside the alliance's max_tx_bytes and one block.
const MaxImportItems = 1000

// validateImport checks every step as its own tx would be checked; the
// error names the first bad step.
func validateImport(m *pb.ImportBatch) error {
	if n := len(m.Items); n == 0 || n > MaxImportItems {
		return fmt.Errorf("items: %d steps; a batch holds 1 to %d (split it)", n, MaxImportItems)
	}
	for i, it := range m.Items {
		var err error
		switch s := it.Step.(type) {
		case *pb.ImportItem_Enrol:
			if s.Enrol == nil {
				err = fmt.Errorf("enrol is empty")
			} else {
				err = validateEnrolPatient(s.Enrol)
			}
		case *pb.ImportItem_Record:
			if s.Record == nil {
				err = fmt.Errorf("record is empty")
			} else {
				err = validateRegister(s.Record)
			}
		default:
			err = fmt.Errorf("the step is neither enrol nor record")
		}
		if err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	return nil
}

// execImport applies the steps in order with the handlers of patient.enrol
// and record.register, so a step is allowed, refused and recorded exactly
// as its own tx would be (same events). The steps write to a cache of
// their own: the first refusal refuses the whole batch, which then has
// written and emitted nothing.
func execImport(ctx *contracts.Context, m *pb.ImportBatch) error {
	cache := contracts.NewCache(ctx.Store)
	sub := contracts.NewContext(ctx.Block, cache, ctx.Signer, ctx.Nonce)
	for i, it := range m.Items {
		var err error
		switch s := it.Step.(type) {
		case *pb.ImportItem_Enrol:
			err = execEnrolPatient(sub, s.Enrol)
		case *pb.ImportItem_Record:
			err = execRegister(sub, s.Record)
		}
		if err != nil {
			return fmt.Errorf("items[%d]: %w", i, err)
		}
	}
	if err := cache.Write(); err != nil {
		return err
	}
	for _, e := range sub.Events() {
		ctx.Emit(e.Type, e.Attrs...)
	}
	return nil
}
