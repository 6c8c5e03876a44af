package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/sharing"
)

func newBreakGlassCmd() *cobra.Command {
	bc := &cobra.Command{Use: "breakglass", Short: "Emergency access without a grant: request, review, list open reviews"}

	request := signedCmd("request --from DOCTOR --record R --reason TEXT",
		"Read a record without a grant in an emergency (emergency duty only; logged and reviewed)",
		"the doctor's key name",
		func(cmd *cobra.Command, _ []string) error {
			id, err := checkFlag(cmd, "record", accepts(sharing.ParseRecordID))
			if err != nil {
				return err
			}
			reason, _ := cmd.Flags().GetString("reason")
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is empty: say why this is an emergency (no names; it stays on the ledger)")
			}
			if len(reason) > records.MaxReasonBytes {
				return fmt.Errorf("--reason is %d bytes; keep it under %d", len(reason), records.MaxReasonBytes)
			}
			return withPerson(cmd, func(ctx context.Context, sc *sharing.Client, doc *sharing.Identity) error {
				access, err := sc.BreakGlass(ctx, doc, id, reason)
				if err != nil {
					return err
				}
				return reportf(cmd, map[string]any{"access": access, "record": id, "break_glass": true},
					"break-glass access %d to record %s granted and flagged for review; fetch it with: medchain record fetch --access %d --from %s --out FILE",
					access, id, access, doc.Name)
			})
		})
	request.Long = "Sends an access.request that breaks the glass. The chain allows it only for a doctor with the\n" +
		"emergency duty and a reason, and flags it for review by the record's custodian. Keep the reason\n" +
		"free of names: it is on the ledger for good. Then fetch with `medchain record fetch --access N`."
	request.Flags().String("record", "", "record id (64 hex digits)")
	request.Flags().String("reason", "", "why (no names: it stays on the ledger)")
	requireFlags(request, "record", "reason")

	review := signedCmd("review --from REVIEWER --access N --finding justified|unjustified|inconclusive [--note TEXT]",
		"Close a break-glass access to a record your hospital keeps (reviewer doctors and operators)",
		"the reviewer's (or operator's) key name",
		func(cmd *cobra.Command, _ []string) error {
			access, _ := cmd.Flags().GetUint64("access")
			findingName, _ := cmd.Flags().GetString("finding")
			note, _ := cmd.Flags().GetString("note")
			if access == 0 {
				return errors.New("--access 0: give the id of the break-glass access (medchain breakglass list)")
			}
			finding, err := parseFlag(cmd, "finding", sharing.ParseFinding)
			if err != nil {
				return err
			}
			if len(note) > records.MaxNoteBytes {
				return fmt.Errorf("--note is %d bytes; keep it under %d", len(note), records.MaxNoteBytes)
			}
			return withSigner(cmd, func(ctx context.Context, sc *sharing.Client, signer ed25519.PrivateKey) error {
				if err := sc.Review(ctx, signer, access, finding, note); err != nil {
					return err
				}
				name := strings.ToLower(findingName)
				return reportf(cmd, map[string]any{"access": access, "finding": name}, "break-glass access %d reviewed: %s", access, name)
			})
		})
	review.Flags().Uint64("access", 0, "the break-glass access entry")
	review.Flags().String("finding", "", "justified, unjustified or inconclusive")
	review.Flags().String("note", "", "short note (no names)")
	requireFlags(review, "access", "finding")

	list := listCmd("list [--hospital H]",
		"List break-glass accesses awaiting review (of one custodian hospital, or all)", printAccesses,
		listing[*pb.AccessEntry]{flag: "hospital", usage: "custodian hospital id (default: every hospital)", check: anyHospital, list: (*sharing.Client).OpenReviews})

	bc.AddCommand(request, review, list)
	return bc
}

// anyHospital accepts a hospital id, or none for every hospital.
func anyHospital(h string) error {
	if h == "" {
		return nil
	}
	return sharing.CheckHospitalID(h)
}
