package main

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

// expiryOf reads --expiry-height H or --expiry-blocks N; N is resolved
// against the chain's height later (resolve). optional allows neither.
func expiryOf(cmd *cobra.Command, optional bool) (height, blocks int64, err error) {
	f := cmd.Flags()
	height, _ = f.GetInt64("expiry-height")
	blocks, _ = f.GetInt64("expiry-blocks")
	hs, bs := f.Changed("expiry-height"), f.Changed("expiry-blocks")
	switch {
	case hs && bs:
		return 0, 0, errors.New("give --expiry-height H or --expiry-blocks N, not both")
	case !hs && !bs && !optional:
		return 0, 0, errors.New("give --expiry-height H (the last valid height) or --expiry-blocks N (valid for N more blocks)")
	case hs && height <= 0:
		return 0, 0, fmt.Errorf("--expiry-height %d: give a height after the current one (medchain status)", height)
	case bs && blocks <= 0:
		return 0, 0, fmt.Errorf("--expiry-blocks %d: give a positive number of blocks", blocks)
	}
	return height, blocks, nil
}

func addExpiryFlags(c *cobra.Command) {
	c.Flags().Int64("expiry-height", 0, "the last height at which the grant is valid")
	c.Flags().Int64("expiry-blocks", 0, "valid for this many blocks from now")
}

func printGrants(w io.Writer, gs []*pb.Grant) {
	if len(gs) == 0 {
		fmt.Fprintln(w, "no grants")
	}
	for _, g := range gs {
		ps := make([]string, len(g.Purposes))
		for i, p := range g.Purposes {
			ps[i] = sharing.PurposeName(p)
		}
		scope := fmt.Sprintf("%d records", len(g.Scope.GetRecordIds()))
		if len(g.Scope.GetRecordIds()) == 0 {
			types := strings.Join(g.Scope.GetResourceTypes(), ",")
			if types == "" {
				types = "any type"
			}
			scope = fmt.Sprintf("%s from %s to %s", types, fmtDate(g.Scope.GetDateFrom()), fmtDate(g.Scope.GetDateTo()))
		}
		fmt.Fprintf(w, "grant %d  to %s  by %s  %s  for %s  until height %d  keys %d",
			g.Id, g.Grantee, g.Grantor, scope, strings.Join(ps, ","), g.ExpiryHeight, len(g.KeyedRecords))
		if g.Parent != 0 {
			fmt.Fprintf(w, "  forward of %d", g.Parent)
		}
		if g.Forwardable {
			fmt.Fprint(w, "  forwardable")
		}
		if g.Revoked {
			fmt.Fprintf(w, "  REVOKED at height %d by %s", g.RevokedHeight, g.RevokedBy)
		}
		fmt.Fprintln(w)
	}
}

func newGrantCmd() *cobra.Command {
	gc := &cobra.Command{Use: "grant", Short: "Patients' grants to doctors: create, forward, revoke, list"}

	create := &cobra.Command{
		Use: "create --from PATIENT --to ADDRESS (--records R1,R2 | --types T1,T2 [--from-date D] [--to-date D])\n" +
			"  --purpose treatment[,consultation] (--expiry-height H | --expiry-blocks N) [--forwardable]",
		Short: "Grant a doctor access to some of your records; their data keys are re-sealed to the doctor",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			to, _ := f.GetString("to")
			recs, _ := f.GetString("records")
			types, _ := f.GetString("types")
			fromDate, _ := f.GetString("from-date")
			toDate, _ := f.GetString("to-date")
			purposes, _ := f.GetString("purpose")
			forwardable, _ := f.GetBool("forwardable")
			req := sharing.GrantRequest{Forwardable: forwardable}
			var err error
			if req.Grantee, err = sharing.ParseAddress(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			filter := types != "" || fromDate != "" || toDate != ""
			switch {
			case recs != "" && filter:
				return errors.New("give --records, or a filter (--types, --from-date, --to-date), not both")
			case recs != "":
				if req.Scope.RecordIDs, err = sharing.ParseRecordIDs(recs); err != nil {
					return fmt.Errorf("--records: %w", err)
				}
			case filter:
				if types != "" {
					if req.Scope.ResourceTypes, err = sharing.ParseResourceTypes(types); err != nil {
						return fmt.Errorf("--types: %w", err)
					}
				}
				if fromDate != "" {
					if req.Scope.DateFrom, err = sharing.ParseDate(fromDate); err != nil {
						return fmt.Errorf("--from-date: %w", err)
					}
				}
				if toDate != "" {
					if req.Scope.DateTo, err = sharing.ParseDate(toDate); err != nil {
						return fmt.Errorf("--to-date: %w", err)
					}
				}
				if req.Scope.DateFrom != 0 && req.Scope.DateTo != 0 && req.Scope.DateFrom > req.Scope.DateTo {
					return fmt.Errorf("--from-date %s is after --to-date %s", fromDate, toDate)
				}
			default:
				return errors.New("say what to share: --records R1,R2 or --types T1,T2 (and/or --from-date, --to-date)")
			}
			if req.Purposes, err = sharing.ParsePurposes(purposes); err != nil {
				return fmt.Errorf("--purpose: %w", err)
			}
			height, blocks, err := expiryOf(cmd, false)
			if err != nil {
				return err
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if blocks > 0 {
				h, err := sc.Height(ctx)
				if err != nil {
					return err
				}
				height = h + blocks
			}
			req.ExpiryHeight = height
			pat, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer pat.Wipe()
			id, err := sc.CreateGrant(ctx, pat, req)
			if err != nil {
				return err
			}
			g, err := sc.Grant(ctx, id)
			if err != nil {
				return err
			}
			return output(cmd, protoJSON(g), func(w io.Writer) {
				fmt.Fprintf(w, "created grant %d to %s, valid until height %d, %d data keys sealed to the doctor\n", id, g.Grantee, g.ExpiryHeight, len(g.KeyedRecords))
			})
		},
	}
	create.Flags().String("from", "", "the patient's key name")
	create.Flags().String("to", "", "the doctor's address")
	create.Flags().String("records", "", "record ids, comma-separated")
	create.Flags().String("types", "", "FHIR resource types, comma-separated (a record is in scope when all its types are listed)")
	create.Flags().String("from-date", "", "first clinical date in scope, YYYY-MM-DD")
	create.Flags().String("to-date", "", "last clinical date in scope, YYYY-MM-DD")
	create.Flags().String("purpose", "", "treatment, consultation and/or referral, comma-separated")
	create.Flags().Bool("forwardable", false, "the doctor may forward the grant to a colleague")
	addExpiryFlags(create)
	for _, n := range []string{"from", "to", "purpose"} {
		_ = create.MarkFlagRequired(n)
	}

	forward := &cobra.Command{
		Use:   "forward --from DOCTOR --grant G --to ADDRESS [--purpose P] [--expiry-height H | --expiry-blocks N] [--forwardable]",
		Short: "Forward a forwardable grant you hold to a colleague; your data keys are re-sealed to them",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			to, _ := f.GetString("to")
			grant, _ := f.GetUint64("grant")
			purposes, _ := f.GetString("purpose")
			forwardable, _ := f.GetBool("forwardable")
			req := sharing.ForwardRequest{Parent: grant, Forwardable: forwardable}
			var err error
			if grant == 0 {
				return errors.New("--grant 0: give the id of the grant you forward (medchain grant list --grantee ADDR)")
			}
			if req.Grantee, err = sharing.ParseAddress(to); err != nil {
				return fmt.Errorf("--to: %w", err)
			}
			if f.Changed("purpose") {
				if req.Purposes, err = sharing.ParsePurposes(purposes); err != nil {
					return fmt.Errorf("--purpose: %w", err)
				}
			}
			height, blocks, err := expiryOf(cmd, true)
			if err != nil {
				return err
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			if blocks > 0 {
				h, err := sc.Height(ctx)
				if err != nil {
					return err
				}
				height = h + blocks
			}
			req.ExpiryHeight = height
			doc, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer doc.Wipe()
			id, err := sc.ForwardGrant(ctx, doc, req)
			if err != nil {
				return err
			}
			g, err := sc.Grant(ctx, id)
			if err != nil {
				return err
			}
			return output(cmd, protoJSON(g), func(w io.Writer) {
				fmt.Fprintf(w, "forwarded grant %d to %s as grant %d, valid until height %d, %d data keys re-sealed\n", grant, g.Grantee, id, g.ExpiryHeight, len(g.KeyedRecords))
			})
		},
	}
	forward.Flags().String("from", "", "the doctor's key name (holder of the grant)")
	forward.Flags().Uint64("grant", 0, "the grant to forward")
	forward.Flags().String("to", "", "the colleague's address")
	forward.Flags().String("purpose", "", "purposes, a subset of the grant's (default: the same)")
	forward.Flags().Bool("forwardable", false, "the colleague may forward it further")
	addExpiryFlags(forward)
	for _, n := range []string{"from", "grant", "to"} {
		_ = forward.MarkFlagRequired(n)
	}

	revoke := &cobra.Command{
		Use:   "revoke --from NAME --grant G",
		Short: "Revoke a grant (patient) or a forward you made (doctor), and every forward below it",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			grant, _ := cmd.Flags().GetUint64("grant")
			if grant == 0 {
				return errors.New("--grant 0: give the id of the grant to revoke (medchain grant list)")
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			who, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer who.Wipe()
			if err := sc.RevokeGrant(ctx, who, grant); err != nil {
				return err
			}
			return output(cmd, map[string]any{"grant": grant, "revoked": true}, func(w io.Writer) {
				fmt.Fprintf(w, "grant %d revoked, with every forward below it\n", grant)
			})
		},
	}
	revoke.Flags().String("from", "", "the patient's or forwarding doctor's key name")
	revoke.Flags().Uint64("grant", 0, "the grant to revoke")
	_ = revoke.MarkFlagRequired("from")
	_ = revoke.MarkFlagRequired("grant")

	list := &cobra.Command{
		Use:   "list (--patient PSEUDONYM | --grantee ADDRESS)",
		Short: "List a patient's grants and forwards, or those a doctor received",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, _ := cmd.Flags().GetString("patient")
			grantee, _ := cmd.Flags().GetString("grantee")
			if (p == "") == (grantee == "") {
				return errors.New("give --patient PSEUDONYM or --grantee ADDRESS, one of the two")
			}
			if p != "" {
				if _, err := sharing.ParsePseudonym(p); err != nil {
					return fmt.Errorf("--patient: %w", err)
				}
			} else if _, err := sharing.ParseAddress(grantee); err != nil {
				return fmt.Errorf("--grantee: %w", err)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var gs []*pb.Grant
			if p != "" {
				gs, err = sc.Grants(ctx, p)
			} else {
				gs, err = sc.GranteeGrants(ctx, grantee)
			}
			if err != nil {
				return err
			}
			return output(cmd, protoListJSON(gs), func(w io.Writer) { printGrants(w, gs) })
		},
	}
	list.Flags().String("patient", "", "the patient's pseudonym")
	list.Flags().String("grantee", "", "the doctor's address")

	for _, c := range []*cobra.Command{create, forward, revoke, list} {
		addSharingFlags(c)
		gc.AddCommand(c)
	}
	return gc
}
