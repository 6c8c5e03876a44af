package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

// expiry is when a grant ends: --expiry-height H, or --expiry-blocks N
// counted from the chain's height when the grant is sent (0, 0: the
// parent's, for a forward).
type expiry struct{ height, blocks int64 }

// expiryOf reads --expiry-height H or --expiry-blocks N. optional allows
// neither.
func expiryOf(cmd *cobra.Command, optional bool) (expiry, error) {
	f := cmd.Flags()
	height, _ := f.GetInt64("expiry-height")
	blocks, _ := f.GetInt64("expiry-blocks")
	hs, bs := f.Changed("expiry-height"), f.Changed("expiry-blocks")
	switch {
	case hs && bs:
		return expiry{}, errors.New("give --expiry-height H or --expiry-blocks N, not both")
	case !hs && !bs && !optional:
		return expiry{}, errors.New("give --expiry-height H (the last valid height) or --expiry-blocks N (valid for N more blocks)")
	case hs && height <= 0:
		return expiry{}, fmt.Errorf("--expiry-height %d: give a height after the current one (medchain status)", height)
	case bs && blocks <= 0:
		return expiry{}, fmt.Errorf("--expiry-blocks %d: give a positive number of blocks", blocks)
	}
	return expiry{height, blocks}, nil
}

// at is the last height at which the grant is valid.
func (e expiry) at(ctx context.Context, sc *sharing.Client) (int64, error) {
	if e.blocks <= 0 {
		return e.height, nil
	}
	h, err := sc.Height(ctx)
	if err != nil {
		return 0, err
	}
	return h + e.blocks, nil
}

func addExpiryFlags(c *cobra.Command) {
	c.Flags().Int64("expiry-height", 0, "the last height at which the grant is valid")
	c.Flags().Int64("expiry-blocks", 0, "valid for this many blocks from now")
}

// sendGrant reads the expiry flags (the last check: optionalExpiry allows
// neither), sends a grant or a forward signed by the person --from names,
// and returns the new grant as the chain keeps it.
func sendGrant(cmd *cobra.Command, optionalExpiry bool,
	send func(ctx context.Context, sc *sharing.Client, who *sharing.Identity, expiryHeight int64) (uint64, error)) (id uint64, g *pb.Grant, err error) {
	exp, err := expiryOf(cmd, optionalExpiry)
	if err != nil {
		return 0, nil, err
	}
	err = withClient(cmd, func(ctx context.Context, sc *sharing.Client) error {
		height, err := exp.at(ctx, sc)
		if err != nil {
			return err
		}
		return asPerson(cmd, func(who *sharing.Identity) error {
			var err error
			if id, err = send(ctx, sc, who, height); err != nil {
				return err
			}
			g, err = sc.Grant(ctx, id)
			return err
		})
	})
	return id, g, err
}

// grantScope reads what a grant shares: --records, or a filter of --types,
// --from-date and --to-date.
func grantScope(cmd *cobra.Command) (sharing.Scope, error) {
	f := cmd.Flags()
	recs, _ := f.GetString("records")
	types, _ := f.GetString("types")
	fromDate, _ := f.GetString("from-date")
	toDate, _ := f.GetString("to-date")
	var (
		s   sharing.Scope
		err error
	)
	filter := types != "" || fromDate != "" || toDate != ""
	switch {
	case recs != "" && filter:
		return s, errors.New("give --records, or a filter (--types, --from-date, --to-date), not both")
	case recs != "":
		s.RecordIDs, err = parseFlag(cmd, "records", sharing.ParseRecordIDs)
		return s, err
	case !filter:
		return s, errors.New("say what to share: --records R1,R2 or --types T1,T2 (and/or --from-date, --to-date)")
	}
	if types != "" {
		if s.ResourceTypes, err = parseFlag(cmd, "types", sharing.ParseResourceTypes); err != nil {
			return s, err
		}
	}
	if fromDate != "" {
		if s.DateFrom, err = parseFlag(cmd, "from-date", sharing.ParseDate); err != nil {
			return s, err
		}
	}
	if toDate != "" {
		if s.DateTo, err = parseFlag(cmd, "to-date", sharing.ParseDate); err != nil {
			return s, err
		}
	}
	if s.DateFrom != 0 && s.DateTo != 0 && s.DateFrom > s.DateTo {
		return s, fmt.Errorf("--from-date %s is after --to-date %s", fromDate, toDate)
	}
	return s, nil
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

	create := signedCmd("create --from PATIENT --to ADDRESS (--records R1,R2 | --types T1,T2 [--from-date D] [--to-date D])\n"+
		"  --purpose treatment[,consultation] (--expiry-height H | --expiry-blocks N) [--forwardable]",
		"Grant a doctor access to some of your records; their data keys are re-sealed to the doctor",
		"the patient's key name",
		func(cmd *cobra.Command, _ []string) error {
			forwardable, _ := cmd.Flags().GetBool("forwardable")
			req := sharing.GrantRequest{Forwardable: forwardable}
			var err error
			if req.Grantee, err = parseFlag(cmd, "to", sharing.ParseAddress); err != nil {
				return err
			}
			if req.Scope, err = grantScope(cmd); err != nil {
				return err
			}
			if req.Purposes, err = parseFlag(cmd, "purpose", sharing.ParsePurposes); err != nil {
				return err
			}
			id, g, err := sendGrant(cmd, false, func(ctx context.Context, sc *sharing.Client, pat *sharing.Identity, height int64) (uint64, error) {
				req.ExpiryHeight = height
				return sc.CreateGrant(ctx, pat, req)
			})
			if err != nil {
				return err
			}
			return reportf(cmd, protoJSON(g), "created grant %d to %s, valid until height %d, %d data keys sealed to the doctor", id, g.Grantee, g.ExpiryHeight, len(g.KeyedRecords))
		})
	create.Flags().String("to", "", "the doctor's address")
	create.Flags().String("records", "", "record ids, comma-separated")
	create.Flags().String("types", "", "FHIR resource types, comma-separated (a record is in scope when all its types are listed)")
	create.Flags().String("from-date", "", "first clinical date in scope, YYYY-MM-DD")
	create.Flags().String("to-date", "", "last clinical date in scope, YYYY-MM-DD")
	create.Flags().String("purpose", "", "treatment, consultation and/or referral, comma-separated")
	create.Flags().Bool("forwardable", false, "the doctor may forward the grant to a colleague")
	addExpiryFlags(create)
	requireFlags(create, "to", "purpose")

	forward := signedCmd("forward --from DOCTOR --grant G --to ADDRESS [--purpose P] [--expiry-height H | --expiry-blocks N] [--forwardable]",
		"Forward a forwardable grant you hold to a colleague; your data keys are re-sealed to them",
		"the doctor's key name (holder of the grant)",
		func(cmd *cobra.Command, _ []string) error {
			grant, _ := cmd.Flags().GetUint64("grant")
			forwardable, _ := cmd.Flags().GetBool("forwardable")
			req := sharing.ForwardRequest{Parent: grant, Forwardable: forwardable}
			if grant == 0 {
				return errors.New("--grant 0: give the id of the grant you forward (medchain grant list --grantee ADDR)")
			}
			var err error
			if req.Grantee, err = parseFlag(cmd, "to", sharing.ParseAddress); err != nil {
				return err
			}
			if cmd.Flags().Changed("purpose") {
				if req.Purposes, err = parseFlag(cmd, "purpose", sharing.ParsePurposes); err != nil {
					return err
				}
			}
			id, g, err := sendGrant(cmd, true, func(ctx context.Context, sc *sharing.Client, doc *sharing.Identity, height int64) (uint64, error) {
				req.ExpiryHeight = height
				return sc.ForwardGrant(ctx, doc, req)
			})
			if err != nil {
				return err
			}
			return reportf(cmd, protoJSON(g), "forwarded grant %d to %s as grant %d, valid until height %d, %d data keys re-sealed", grant, g.Grantee, id, g.ExpiryHeight, len(g.KeyedRecords))
		})
	forward.Flags().Uint64("grant", 0, "the grant to forward")
	forward.Flags().String("to", "", "the colleague's address")
	forward.Flags().String("purpose", "", "purposes, a subset of the grant's (default: the same)")
	forward.Flags().Bool("forwardable", false, "the colleague may forward it further")
	addExpiryFlags(forward)
	requireFlags(forward, "grant", "to")

	revoke := signedCmd("revoke --from NAME --grant G",
		"Revoke a grant (patient) or a forward you made (doctor), and every forward below it",
		"the patient's or forwarding doctor's key name",
		func(cmd *cobra.Command, _ []string) error {
			grant, _ := cmd.Flags().GetUint64("grant")
			if grant == 0 {
				return errors.New("--grant 0: give the id of the grant to revoke (medchain grant list)")
			}
			return withPerson(cmd, func(ctx context.Context, sc *sharing.Client, who *sharing.Identity) error {
				if err := sc.RevokeGrant(ctx, who, grant); err != nil {
					return err
				}
				return reportf(cmd, map[string]any{"grant": grant, "revoked": true}, "grant %d revoked, with every forward below it", grant)
			})
		})
	revoke.Flags().Uint64("grant", 0, "the grant to revoke")
	requireFlags(revoke, "grant")

	list := listCmd("list (--patient PSEUDONYM | --grantee ADDRESS)",
		"List a patient's grants and forwards, or those a doctor received", printGrants,
		listing[*pb.Grant]{flag: "patient", usage: "the patient's pseudonym", give: "--patient PSEUDONYM", check: accepts(sharing.ParsePseudonym), list: (*sharing.Client).Grants},
		listing[*pb.Grant]{flag: "grantee", usage: "the doctor's address", give: "--grantee ADDRESS", check: accepts(sharing.ParseAddress), list: (*sharing.Client).GranteeGrants})

	gc.AddCommand(create, forward, revoke, list)
	return gc
}
