package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/sharing"
)

func newBreakGlassCmd() *cobra.Command {
	bc := &cobra.Command{Use: "breakglass", Short: "Emergency access without a grant: request, review, list open reviews"}

	request := &cobra.Command{
		Use:   "request --from DOCTOR --record R --reason TEXT",
		Short: "Read a record without a grant in an emergency (emergency duty only; logged and reviewed)",
		Long: "Sends an access.request that breaks the glass. The chain allows it only for a doctor with the\n" +
			"emergency duty and a reason, and flags it for review by the record's custodian. Keep the reason\n" +
			"free of names: it is on the ledger for good. Then fetch with `medchain record fetch --access N`.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, _ := cmd.Flags().GetString("record")
			reason, _ := cmd.Flags().GetString("reason")
			if _, err := sharing.ParseRecordID(id); err != nil {
				return fmt.Errorf("--record: %w", err)
			}
			if strings.TrimSpace(reason) == "" {
				return errors.New("--reason is empty: say why this is an emergency (no names; it stays on the ledger)")
			}
			if len(reason) > records.MaxReasonBytes {
				return fmt.Errorf("--reason is %d bytes; keep it under %d", len(reason), records.MaxReasonBytes)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			doc, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer doc.Wipe()
			access, err := sc.BreakGlass(ctx, doc, id, reason)
			if err != nil {
				return err
			}
			return output(cmd, map[string]any{"access": access, "record": id, "break_glass": true}, func(w io.Writer) {
				fmt.Fprintf(w, "break-glass access %d to record %s granted and flagged for review; fetch it with: medchain record fetch --access %d --from %s --out FILE\n",
					access, id, access, doc.Name)
			})
		},
	}
	request.Flags().String("from", "", "the doctor's key name")
	request.Flags().String("record", "", "record id (64 hex digits)")
	request.Flags().String("reason", "", "why (no names: it stays on the ledger)")
	for _, n := range []string{"from", "record", "reason"} {
		_ = request.MarkFlagRequired(n)
	}

	review := &cobra.Command{
		Use:   "review --from REVIEWER --access N --finding justified|unjustified|inconclusive [--note TEXT]",
		Short: "Close a break-glass access to a record your hospital keeps (reviewer doctors and operators)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			access, _ := cmd.Flags().GetUint64("access")
			findingName, _ := cmd.Flags().GetString("finding")
			note, _ := cmd.Flags().GetString("note")
			if access == 0 {
				return errors.New("--access 0: give the id of the break-glass access (medchain breakglass list)")
			}
			finding, err := sharing.ParseFinding(findingName)
			if err != nil {
				return fmt.Errorf("--finding: %w", err)
			}
			if len(note) > records.MaxNoteBytes {
				return fmt.Errorf("--note is %d bytes; keep it under %d", len(note), records.MaxNoteBytes)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			signer, err := loadSigner(cmd)
			if err != nil {
				return err
			}
			defer clear(signer)
			if err := sc.Review(ctx, signer, access, finding, note); err != nil {
				return err
			}
			name := strings.ToLower(findingName)
			return output(cmd, map[string]any{"access": access, "finding": name}, func(w io.Writer) {
				fmt.Fprintf(w, "break-glass access %d reviewed: %s\n", access, name)
			})
		},
	}
	review.Flags().String("from", "", "the reviewer's (or operator's) key name")
	review.Flags().Uint64("access", 0, "the break-glass access entry")
	review.Flags().String("finding", "", "justified, unjustified or inconclusive")
	review.Flags().String("note", "", "short note (no names)")
	for _, n := range []string{"from", "access", "finding"} {
		_ = review.MarkFlagRequired(n)
	}

	list := &cobra.Command{
		Use:   "list [--hospital H]",
		Short: "List break-glass accesses awaiting review (of one custodian hospital, or all)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			h, _ := cmd.Flags().GetString("hospital")
			if h != "" {
				if err := sharing.CheckHospitalID(h); err != nil {
					return fmt.Errorf("--hospital: %w", err)
				}
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			es, err := sc.OpenReviews(ctx, h)
			if err != nil {
				return err
			}
			return output(cmd, protoListJSON(es), func(w io.Writer) { printAccesses(w, es) })
		},
	}
	list.Flags().String("hospital", "", "custodian hospital id (default: every hospital)")

	for _, c := range []*cobra.Command{request, review, list} {
		addSharingFlags(c)
		bc.AddCommand(c)
	}
	return bc
}
