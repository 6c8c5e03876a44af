package main

import (
	"context"
	"fmt"

	"github.com/medchain/medchain/node/audit"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/node/report"
)

// demoAuditor is the demo's last act (localnet.DemoOptions.Auditor): with
// nothing but hospital 0's stopped home, an auditor replays every block
// from genesis in a fresh state (medchain audit replay) and builds the
// audit report from the replayed state and events (medchain audit
// report); the report must list exactly what the demo did.
func demoAuditor(ctx context.Context, home string, did localnet.DemoRecord, say func(string, ...any)) error {
	src, err := audit.OpenHome(home)
	if err != nil {
		return err
	}
	defer src.Close()
	rep, replay, err := audit.BuildReport(ctx, src, audit.Options{}, audit.ReportOptions{})
	if err != nil {
		return err
	}
	say("medchain audit replay --home: re-executed heights %d to %d (%d txs) from genesis in a fresh state; every app hash matches the next header's, and the home's own state (%.0f blocks/s, %.0f tx/s)",
		replay.From, replay.To, replay.Txs, replay.BlocksPerSecond, replay.TxsPerSecond)
	s := rep.Summary
	say("medchain audit report: %d accesses (%d under a grant, %d emergency), %d denied attempts, break-glass reviews: %d closed, %d open, %d research queries (ρ %s spent), %d governance proposals carried out",
		s.Accesses, s.UnderGrant, s.Emergency, s.Denied, s.ClosedReviews, s.OpenReviews, s.Queries, report.FormatMicro(uint64(max(s.BudgetRhoMicro, 0))), s.ProposalsPassed)
	for _, c := range []struct {
		what      string
		got, want int
	}{
		{"accesses", s.Accesses, did.Accesses},
		{"accesses under a grant", s.UnderGrant, did.UnderGrant},
		{"emergency accesses", s.Emergency, did.Emergency},
		{"closed break-glass reviews", s.ClosedReviews, did.ClosedReviews},
		{"open break-glass reviews", s.OpenReviews, 0},
		{"denied attempts", s.Denied, did.Denied},
		{"research queries", s.Queries, did.Queries},
		{"governance proposals carried out", s.ProposalsPassed, did.Proposals},
	} {
		if c.got != c.want {
			return fmt.Errorf("the audit report lists %d %s, the demo made %d", c.got, c.what, c.want)
		}
	}
	say("the report lists exactly what the demo did, from the chain alone")
	return nil
}
