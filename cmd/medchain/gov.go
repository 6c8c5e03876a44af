package main

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/report"
)

const govLong = `Member hospitals shape the alliance by proposal and vote.

A member's operator proposes one action; the proposal counts as its yes.
It passes when yes votes come from MORE than two thirds of the members at
proposal time (yes·3 > members·2: exactly two thirds is not enough), and
is carried out in the block of the deciding vote. It is rejected when that
can no longer happen, and expires after params.gov.voting_deadline_blocks.

  medchain gov propose admit-hospital --member member.json [--power 10]
  medchain gov propose remove-hospital h3
  medchain gov propose register-researcher|register-auditor PUBKEY_BASE64 --label L
  medchain gov propose retire ADDRESS
  medchain gov propose grant-budget ADDRESS --rho 2.5
  medchain gov propose set-params --min-cohort 20 --threshold 3 ...
  medchain gov vote ID yes|no
  medchain gov show ID
  medchain gov list

A tx the chain refuses exits with code 3. See docs/GOVERNANCE.md.`

func newGovCmd() *cobra.Command {
	gc := &cobra.Command{Use: "gov", Short: "Propose and vote on the alliance's members, accounts and parameters", Long: govLong}
	propose := &cobra.Command{Use: "propose", Short: "Propose one action (operators of member hospitals)"}
	for _, a := range govActions {
		a := a
		c := &cobra.Command{
			Use: a.use, Short: a.short, Args: cobra.ExactArgs(a.args),
			RunE: func(cmd *cobra.Command, args []string) error {
				m, err := a.build(cmd.Flags(), args)
				if err != nil {
					return err
				}
				m.Reason, _ = cmd.Flags().GetString("reason")
				if err := governance.ValidatePropose(m); err != nil {
					return fmt.Errorf("%s: %w", a.name, err)
				}
				return sendTx(cmd, governance.TypePropose, m)
			},
		}
		if a.flags != nil {
			a.flags(c.Flags())
		}
		c.Flags().String("reason", "", "a short note for the other members")
		addGovTxFlags(c)
		propose.AddCommand(c)
	}
	vote := &cobra.Command{
		Use: "vote ID yes|no", Short: "Vote once on an open proposal (operators of its members)", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			v, err := parseGovVote(args[0], args[1])
			if err != nil {
				return err
			}
			return sendTx(cmd, governance.TypeVote, v)
		},
	}
	addGovTxFlags(vote)
	show := &cobra.Command{
		Use: "show ID", Short: "Show a proposal: action, votes, status and outcome", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseGovID(args[0])
			if err != nil {
				return err
			}
			var p pb.Proposal
			ok, err := govRead(cmd, fmt.Sprintf("/gov/proposal/%d", id), &p)
			if err != nil {
				return err
			}
			if !ok {
				return fmt.Errorf("no proposal %d on this chain (`medchain gov list`)", id)
			}
			return output(cmd, govView(&p), func(w io.Writer) { govText(w, &p) })
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List the newest proposals, newest first", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			var l pb.ProposalList
			if _, err := govRead(cmd, "/gov/proposals", &l); err != nil {
				return err
			}
			views := make([]map[string]any, 0, len(l.Proposals))
			for _, p := range l.Proposals {
				views = append(views, govView(p))
			}
			return output(cmd, views, func(w io.Writer) {
				if len(l.Proposals) == 0 {
					fmt.Fprintln(w, "no proposals")
				}
				for _, p := range l.Proposals {
					fmt.Fprintf(w, "%4d  %-9s %-17s yes %d no %d of %d  height %d\n", p.Id, govStatus(p.Status),
						governance.ActionOf(p.Propose), len(p.Yes), len(p.No), len(p.Electorate), p.Height)
				}
			})
		},
	}
	for _, c := range []*cobra.Command{show, list} {
		addNodeFlag(c)
		addOutputFlag(c)
	}
	gc.AddCommand(propose, vote, show, list)
	return gc
}

func addGovTxFlags(c *cobra.Command) {
	c.Flags().String("from", node.OperatorKeyName, "name of the hospital operator's signing key in the keyring")
	c.Flags().Duration("timeout", 30*time.Second, "how long to wait for the commit")
	addKeyringFlags(c)
	addNodeFlag(c)
	addOutputFlag(c)
}

// govAction is one "gov propose" subcommand.
type govAction struct {
	name, use, short string
	args             int
	flags            func(f *pflag.FlagSet)
	build            func(f *pflag.FlagSet, args []string) (*pb.Propose, error)
}

var govActions = []govAction{
	{
		name: governance.ActionAdmitHospital, use: "admit-hospital --member FILE [--power N]", args: 0,
		short: "Admit a hospital: it becomes a validator and joins a new collective-key epoch",
		flags: func(f *pflag.FlagSet) {
			f.String("member", "", "the hospital's member file (`medchain genesis member-info` on its node)")
			f.Int64("power", 0, "its validator's voting power (default: the member file's, else 10)")
		},
		build: func(f *pflag.FlagSet, _ []string) (*pb.Propose, error) {
			path, _ := f.GetString("member")
			if path == "" {
				return nil, errors.New("--member is required: the new hospital's `medchain genesis member-info` file")
			}
			m, err := genesis.ReadMember(path)
			if err != nil {
				return nil, err
			}
			power, _ := f.GetInt64("power")
			if power == 0 {
				power = m.Power
			}
			if power == 0 {
				power = 10
			}
			return &pb.Propose{Action: &pb.Propose_AdmitHospital{AdmitHospital: &pb.AdmitHospital{
				Id: m.ID, Name: m.Name, ValidatorPubkey: m.ValidatorPubKey, Power: power,
				OperatorPubkey: m.OperatorPubKey, SealPubkey: m.SealPubKey,
			}}}, nil
		},
	},
	{
		name: governance.ActionRemoveHospital, use: "remove-hospital ID", args: 1,
		short: "Remove a member: its validator power goes to 0, its operator is retired, a new key epoch excludes it",
		build: func(_ *pflag.FlagSet, args []string) (*pb.Propose, error) {
			return &pb.Propose{Action: &pb.Propose_RemoveHospital{RemoveHospital: &pb.RemoveHospital{Id: args[0]}}}, nil
		},
	},
	govRegister("register-researcher", pb.Role_ROLE_RESEARCHER),
	govRegister("register-auditor", pb.Role_ROLE_AUDITOR),
	{
		name: governance.ActionRetireAccount, use: "retire ADDRESS", args: 1,
		short: "Retire a researcher or auditor (the account stays, it may send nothing)",
		build: func(_ *pflag.FlagSet, args []string) (*pb.Propose, error) {
			return &pb.Propose{Action: &pb.Propose_RetireAccount{RetireAccount: &pb.RetireAccount{Address: args[0]}}}, nil
		},
	},
	{
		name: governance.ActionGrantBudget, use: "grant-budget ADDRESS --rho R", args: 1,
		short: "Grant a researcher more privacy budget (zCDP ρ, added to what it was granted)",
		flags: func(f *pflag.FlagSet) { f.String("rho", "", "budget to add, e.g. 2.5") },
		build: func(f *pflag.FlagSet, args []string) (*pb.Propose, error) {
			r, _ := f.GetString("rho")
			if r == "" {
				return nil, errors.New("--rho is required, e.g. --rho 2.5")
			}
			micro, err := report.ParseRho(r)
			if err != nil {
				return nil, fmt.Errorf("--rho: %w", err)
			}
			return &pb.Propose{Action: &pb.Propose_GrantBudget{GrantBudget: &pb.GrantBudget{Researcher: args[0], RhoMicro: micro}}}, nil
		},
	},
	{
		name: governance.ActionSetParams, use: "set-params [--FIELD VALUE]...", args: 0,
		short: "Change alliance parameters; only the flags given change",
		flags: func(f *pflag.FlagSet) {
			for _, p := range govParamFlags {
				f.Uint64(p.flag, 0, p.help)
			}
		},
		build: buildSetParams,
	},
}

func govRegister(use string, role pb.Role) govAction {
	return govAction{
		name: governance.ActionRegisterAccount, use: use + " PUBKEY_BASE64 --label TEXT", args: 1,
		short: "Register an alliance-wide " + strings.TrimPrefix(use, "register-") + " account",
		flags: func(f *pflag.FlagSet) { f.String("label", "", "short non-identifying label") },
		build: func(f *pflag.FlagSet, args []string) (*pb.Propose, error) {
			pub, err := base64.StdEncoding.DecodeString(args[0])
			if err != nil {
				return nil, fmt.Errorf("PUBKEY_BASE64: %v (get it with `medchain keys show NAME -o json`)", err)
			}
			label, _ := f.GetString("label")
			return &pb.Propose{Action: &pb.Propose_RegisterAccount{RegisterAccount: &pb.RegisterAllianceAccount{Role: role, Pubkey: pub, Label: label}}}, nil
		},
	}
}

// govParamFlags are set-params' flags, one per pb.SetParams field.
var govParamFlags = []struct {
	flag, help string
	set        func(s *pb.SetParams, v uint64) error
}{
	{"min-cohort", "smallest noised cohort a result is released for", func(s *pb.SetParams, v uint64) error { s.MinCohort = &v; return nil }},
	{"contribution-deadline-blocks", "blocks a research query waits for contributions", func(s *pb.SetParams, v uint64) error { s.ContributionDeadlineBlocks = &v; return nil }},
	{"budget-micro", "each researcher's default zCDP budget, in millionths of ρ", func(s *pb.SetParams, v uint64) error { s.BudgetMicro = &v; return nil }},
	{"max-patients", "bound on the alliance's persons", func(s *pb.SetParams, v uint64) error { s.MaxPatients = &v; return nil }},
	{"threshold", "t: members taking part in each decryption (opens a new key epoch)", func(s *pb.SetParams, v uint64) error {
		if v > 1<<32-1 {
			return fmt.Errorf("--threshold %d is too large", v)
		}
		t := uint32(v)
		s.Threshold = &t
		return nil
	}},
	{"share-deadline-blocks", "blocks a decryption request waits for shares", func(s *pb.SetParams, v uint64) error { s.ShareDeadlineBlocks = &v; return nil }},
	{"voting-deadline-blocks", "blocks a proposal stays open", func(s *pb.SetParams, v uint64) error { s.VotingDeadlineBlocks = &v; return nil }},
	{"max-tx-bytes", "largest tx", func(s *pb.SetParams, v uint64) error { s.MaxTxBytes = &v; return nil }},
	{"max-memo-bytes", "longest memo or proposal reason", func(s *pb.SetParams, v uint64) error { s.MaxMemoBytes = &v; return nil }},
	{"max-label-bytes", "longest label or hospital name", func(s *pb.SetParams, v uint64) error { s.MaxLabelBytes = &v; return nil }},
}

func buildSetParams(f *pflag.FlagSet, _ []string) (*pb.Propose, error) {
	s := &pb.SetParams{}
	for _, p := range govParamFlags {
		if !f.Changed(p.flag) {
			continue
		}
		v, err := f.GetUint64(p.flag)
		if err != nil {
			return nil, fmt.Errorf("--%s: %w", p.flag, err)
		}
		if err := p.set(s, v); err != nil {
			return nil, err
		}
	}
	return &pb.Propose{Action: &pb.Propose_SetParams{SetParams: s}}, nil
}

func parseGovID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("proposal id %q: want a number from 1 (`medchain gov list`)", s)
	}
	return id, nil
}

func parseGovVote(id, choice string) (*pb.Vote, error) {
	n, err := parseGovID(id)
	if err != nil {
		return nil, err
	}
	switch strings.ToLower(choice) {
	case "yes":
		return &pb.Vote{Proposal: n, Yes: true}, nil
	case "no":
		return &pb.Vote{Proposal: n}, nil
	}
	return nil, fmt.Errorf("vote %q: say yes or no", choice)
}

// govRead reads a "/gov/..." record; false if there is none.
func govRead(cmd *cobra.Command, path string, m proto.Message) (bool, error) {
	c, err := dial(cmd)
	if err != nil {
		return false, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
	defer cancel()
	q, err := c.Query(ctx, path, 0, false)
	if err != nil {
		return false, err
	}
	if q.Value == nil {
		return false, nil
	}
	if err := tx.Unmarshal(q.Value, m); err != nil {
		return false, fmt.Errorf("the node's answer to %s does not decode: %w", path, err)
	}
	return true, nil
}

func govStatus(s pb.Proposal_Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

// govView is a proposal for -o json.
func govView(p *pb.Proposal) map[string]any {
	return map[string]any{
		"id": p.Id, "action": governance.ActionOf(p.Propose), "detail": govActionText(p.Propose), "reason": p.Propose.GetReason(),
		"proposer": p.Proposer, "height": p.Height, "deadline_height": p.DeadlineHeight,
		"electorate": p.Electorate, "yes": p.Yes, "no": p.No, "status": govStatus(p.Status),
		"status_height": p.StatusHeight, "outcome": p.Outcome, "key_epoch": p.KeyEpoch,
	}
}

func govText(w io.Writer, p *pb.Proposal) {
	fmt.Fprintf(w, "proposal %d: %s\n  %s\n", p.Id, governance.ActionOf(p.Propose), govActionText(p.Propose))
	if r := p.Propose.GetReason(); r != "" {
		fmt.Fprintf(w, "reason    %s\n", r)
	}
	fmt.Fprintf(w, "proposer  %s at height %d; votes until height %d\n", p.Proposer, p.Height, p.DeadlineHeight)
	fmt.Fprintf(w, "votes     yes %d (%s), no %d (%s) of %d members; passes with more than %d yes\n",
		len(p.Yes), strings.Join(p.Yes, ","), len(p.No), strings.Join(p.No, ","), len(p.Electorate), len(p.Electorate)*2/3)
	fmt.Fprintf(w, "status    %s since height %d\n", govStatus(p.Status), p.StatusHeight)
	if p.Outcome != "" {
		fmt.Fprintf(w, "outcome   %s\n", p.Outcome)
	}
	if p.KeyEpoch != 0 {
		fmt.Fprintf(w, "key epoch %d opened\n", p.KeyEpoch)
	}
}

// govActionText says what a proposal asks, in one line.
func govActionText(m *pb.Propose) string {
	switch a := m.GetAction().(type) {
	case *pb.Propose_AdmitHospital:
		h := a.AdmitHospital
		return fmt.Sprintf("admit %s (%s) with validator power %d", h.Id, h.Name, h.Power)
	case *pb.Propose_RemoveHospital:
		return "remove " + a.RemoveHospital.Id
	case *pb.Propose_RegisterAccount:
		r := a.RegisterAccount
		return fmt.Sprintf("register %s %s (%s)", strings.ToLower(strings.TrimPrefix(r.Role.String(), "ROLE_")), pb.AddressOf(r.Pubkey), r.Label)
	case *pb.Propose_RetireAccount:
		return "retire " + a.RetireAccount.Address
	case *pb.Propose_GrantBudget:
		return fmt.Sprintf("grant %s ρ = %s more", a.GrantBudget.Researcher, report.FormatMicro(a.GrantBudget.RhoMicro))
	case *pb.Propose_SetParams:
		var set []string
		a.SetParams.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			set = append(set, fmt.Sprintf("%s=%v", fd.Name(), v.Interface()))
			return true
		})
		slices.Sort(set)
		return "set " + strings.Join(set, ", ")
	}
	return "?"
}
