package governance

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/he"
)

// maxBudgetMicro is genesis's bound on a research budget (ρ in millionths).
const maxBudgetMicro = 1 << 50

// apply checks the action of m against ctx's state and carries it out
// there. It returns what it did, for the gov.executed event, and the key
// epoch it opened (0 if none). A refusal wraps a contracts sentinel and
// the caller drops ctx's writes.
func apply(ctx *contracts.Context, m *pb.Propose) (detail string, epoch uint64, err error) {
	switch a := m.GetAction().(type) {
	case *pb.Propose_AdmitHospital:
		return admit(ctx, a.AdmitHospital)
	case *pb.Propose_RemoveHospital:
		return remove(ctx, a.RemoveHospital)
	case *pb.Propose_RegisterAccount:
		d, err := register(ctx, a.RegisterAccount)
		return d, 0, err
	case *pb.Propose_RetireAccount:
		d, err := retire(ctx, a.RetireAccount)
		return d, 0, err
	case *pb.Propose_GrantBudget:
		d, err := grantBudget(ctx, a.GrantBudget)
		return d, 0, err
	case *pb.Propose_SetParams:
		return setParams(ctx, a.SetParams)
	}
	return "", 0, invalid("the proposal has no action")
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrInvalidPayload, fmt.Sprintf(format, a...))
}

// startEpoch opens a key epoch over the members now in state, with
// threshold t (a no-op without HE).
func startEpoch(ctx *contracts.Context, t uint32) (uint64, error) {
	hs, err := accounts.Members(ctx.Store)
	if err != nil {
		return 0, err
	}
	idx := make([]uint64, 0, len(hs))
	for _, h := range hs {
		idx = append(idx, h.MemberIndex)
	}
	return hekeys.StartEpoch(ctx.Store, idx, t)
}

func threshold(ap *pb.Params) uint32 {
	if ap.He == nil {
		return 0
	}
	return ap.He.Threshold
}

func admit(ctx *contracts.Context, a *pb.AdmitHospital) (string, uint64, error) {
	if err := validateAdmit(a); err != nil {
		return "", 0, invalid("%v", err)
	}
	ap, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	if uint64(len(a.Name)) > ap.MaxLabelBytes {
		return "", 0, invalid("name is %d bytes, the limit is max_label_bytes = %d", len(a.Name), ap.MaxLabelBytes)
	}
	if ap.He != nil && len(a.SealPubkey) == 0 {
		return "", 0, invalid("seal_pubkey is required: this alliance has a collective key and members seal key shares to it (`medchain init` makes one)")
	}
	hs, err := accounts.Hospitals(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	for _, h := range hs {
		switch {
		case h.Id == a.Id:
			return "", 0, fmt.Errorf("%w: hospital %q (a removed hospital keeps its id)", contracts.ErrExists, a.Id)
		case bytes.Equal(h.ValidatorPubkey, a.ValidatorPubkey):
			return "", 0, fmt.Errorf("%w: validator_pubkey is hospital %s's; every member runs its own validator", contracts.ErrExists, h.Id)
		case len(a.SealPubkey) != 0 && bytes.Equal(h.SealPubkey, a.SealPubkey):
			return "", 0, fmt.Errorf("%w: seal_pubkey is hospital %s's", contracts.ErrExists, h.Id)
		}
	}
	op := pb.AddressOf(a.OperatorPubkey)
	if acc, err := accounts.GetAccount(ctx.Store, op); err != nil {
		return "", 0, err
	} else if acc != nil {
		return "", 0, fmt.Errorf("%w: operator_pubkey is the key of account %s; a new hospital's operator needs a new key", contracts.ErrExists, op)
	}
	idx, err := accounts.NextMemberIndex(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	if idx > he.MaxMemberIndex {
		return "", 0, fmt.Errorf("%w: member indexes are used up (%d)", contracts.ErrWrongState, uint64(he.MaxMemberIndex))
	}
	h := &pb.Hospital{
		Id: a.Id, Name: a.Name, ValidatorPubkey: a.ValidatorPubkey, Power: a.Power, Operator: op,
		MemberIndex: idx, SealPubkey: a.SealPubkey, AdmittedHeight: ctx.Block.Height,
	}
	if err := accounts.SetHospital(ctx.Store, h); err != nil {
		return "", 0, err
	}
	if err := accounts.SetAccount(ctx.Store, &pb.Account{
		Address: op, Pubkey: a.OperatorPubkey, Role: pb.Role_ROLE_OPERATOR, Hospital: a.Id,
		Label: a.Name + " operator", CreatedHeight: ctx.Block.Height,
	}); err != nil {
		return "", 0, err
	}
	ctx.UpdateValidator(a.ValidatorPubkey, a.Power)
	epoch, err := startEpoch(ctx, threshold(ap))
	if err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("hospital %s admitted as member %d, operator %s; its validator joins with power %d at height %d",
		a.Id, idx, op, a.Power, ctx.Block.Height+2), epoch, nil
}

func remove(ctx *contracts.Context, a *pb.RemoveHospital) (string, uint64, error) {
	h, err := accounts.GetHospital(ctx.Store, a.Id)
	if err != nil {
		return "", 0, err
	}
	switch {
	case h == nil:
		return "", 0, fmt.Errorf("%w: no hospital %q (`medchain query /hospitals`)", contracts.ErrNotFound, a.Id)
	case h.RemovedHeight != 0:
		return "", 0, fmt.Errorf("%w: hospital %s was removed at height %d", contracts.ErrWrongState, h.Id, h.RemovedHeight)
	}
	ap, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	members, err := accounts.Members(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	left := len(members) - 1
	if left < MinMembers {
		return "", 0, fmt.Errorf("%w: removing %s would leave %d members; the alliance keeps at least %d validators", ErrAllianceFloor, h.Id, left, MinMembers)
	}
	if t := threshold(ap); left < int(t) {
		return "", 0, fmt.Errorf("%w: removing %s would leave %d members, fewer than the decryption threshold t = %d; lower t first (set-params --threshold)", ErrAllianceFloor, h.Id, left, t)
	}
	power := h.Power
	h.Power, h.RemovedHeight = 0, ctx.Block.Height
	if err := accounts.SetHospital(ctx.Store, h); err != nil {
		return "", 0, err
	}
	acc, err := accounts.GetAccount(ctx.Store, h.Operator)
	if err != nil {
		return "", 0, err
	}
	if acc != nil && acc.Role == pb.Role_ROLE_OPERATOR {
		acc.RetiredRole, acc.Role, acc.RetiredHeight = acc.Role, pb.Role_ROLE_UNSPECIFIED, ctx.Block.Height
		if err := accounts.SetAccount(ctx.Store, acc); err != nil {
			return "", 0, err
		}
	}
	ctx.UpdateValidator(h.ValidatorPubkey, 0)
	epoch, err := startEpoch(ctx, threshold(ap))
	if err != nil {
		return "", 0, err
	}
	return fmt.Sprintf("hospital %s (member %d) removed, operator %s retired; its validator (power %d) leaves at height %d",
		h.Id, h.MemberIndex, h.Operator, power, ctx.Block.Height+2), epoch, nil
}

func register(ctx *contracts.Context, r *pb.RegisterAllianceAccount) (string, error) {
	if err := ValidatePropose(&pb.Propose{Action: &pb.Propose_RegisterAccount{RegisterAccount: r}}); err != nil {
		return "", invalid("%v", err)
	}
	ap, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return "", err
	}
	if uint64(len(r.Label)) > ap.MaxLabelBytes {
		return "", invalid("label is %d bytes, the limit is max_label_bytes = %d", len(r.Label), ap.MaxLabelBytes)
	}
	addr := pb.AddressOf(r.Pubkey)
	if acc, err := accounts.GetAccount(ctx.Store, addr); err != nil {
		return "", err
	} else if acc != nil {
		return "", fmt.Errorf("%w: account %s", contracts.ErrExists, addr)
	}
	if err := accounts.SetAccount(ctx.Store, &pb.Account{
		Address: addr, Pubkey: r.Pubkey, Role: r.Role, Label: r.Label, CreatedHeight: ctx.Block.Height,
	}); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s registered", roleName(r.Role), addr), nil
}

func retire(ctx *contracts.Context, r *pb.RetireAccount) (string, error) {
	acc, err := accounts.GetAccount(ctx.Store, r.Address)
	if err != nil {
		return "", invalid("address: %v", err)
	}
	switch {
	case acc == nil:
		return "", fmt.Errorf("%w: no account %s", contracts.ErrNotFound, r.Address)
	case acc.RetiredHeight != 0:
		return "", fmt.Errorf("%w: account %s was retired at height %d", contracts.ErrWrongState, r.Address, acc.RetiredHeight)
	case acc.Role != pb.Role_ROLE_RESEARCHER && acc.Role != pb.Role_ROLE_AUDITOR:
		return "", invalid("account %s is a %s: a vote retires researchers and auditors (an operator leaves with its hospital, remove-hospital; doctors and patients are their hospital's)", r.Address, roleName(acc.Role))
	}
	acc.RetiredRole, acc.Role, acc.RetiredHeight = acc.Role, pb.Role_ROLE_UNSPECIFIED, ctx.Block.Height
	if err := accounts.SetAccount(ctx.Store, acc); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s %s retired", roleName(acc.RetiredRole), r.Address), nil
}

func grantBudget(ctx *contracts.Context, g *pb.GrantBudget) (string, error) {
	if _, err := research.Params(ctx.Store); err != nil {
		return "", err
	}
	acc, err := accounts.GetAccount(ctx.Store, g.Researcher)
	if err != nil {
		return "", invalid("researcher: %v", err)
	}
	switch {
	case acc == nil:
		return "", fmt.Errorf("%w: no account %s", contracts.ErrNotFound, g.Researcher)
	case acc.Role != pb.Role_ROLE_RESEARCHER:
		return "", fmt.Errorf("%w: account %s is a %s, not a researcher", contracts.ErrWrongState, g.Researcher, roleName(acc.Role))
	}
	b, err := research.GetBudget(ctx.Store, g.Researcher)
	if err != nil {
		return "", err
	}
	if g.RhoMicro > maxBudgetMicro || b.GrantedMicro > maxBudgetMicro-g.RhoMicro {
		return "", invalid("the budget would exceed %d micro-ρ (granted now %d)", uint64(maxBudgetMicro), b.GrantedMicro)
	}
	b.GrantedMicro += g.RhoMicro
	a, err := pb.ParseAddress(g.Researcher)
	if err != nil {
		return "", invalid("researcher: %v", err)
	}
	if err := contracts.SetRecord(ctx.Store, research.BudgetKey(a), b); err != nil {
		return "", err
	}
	return fmt.Sprintf("researcher %s granted %d micro-ρ more: %d granted, %d spent", g.Researcher, g.RhoMicro, b.GrantedMicro, b.SpentMicro), nil
}

// bound is one parameter's allowed range (the genesis bounds).
type bound struct {
	name     string
	v        *uint64
	lo, hi   uint64
	research bool // needs the research section
	he       bool // needs the he section
}

func setParams(ctx *contracts.Context, s *pb.SetParams) (string, uint64, error) {
	if proto.Size(s) == 0 {
		return "", 0, invalid("set_params changes nothing")
	}
	cur, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	ap := proto.Clone(cur).(*pb.Params)
	var t *uint64
	if s.Threshold != nil {
		v := uint64(*s.Threshold)
		t = &v
	}
	members, err := accounts.Members(ctx.Store)
	if err != nil {
		return "", 0, err
	}
	for _, b := range []bound{
		{"min_cohort", s.MinCohort, 1, 1_000_000, true, false},
		{"contribution_deadline_blocks", s.ContributionDeadlineBlocks, 1, 100_000, true, false},
		{"budget_micro", s.BudgetMicro, 0, maxBudgetMicro, true, false},
		{"max_patients", s.MaxPatients, 1, 1 << 32, true, false},
		{"threshold", t, 1, uint64(len(members)), false, true},
		{"share_deadline_blocks", s.ShareDeadlineBlocks, 1, 100_000, false, true},
		{"voting_deadline_blocks", s.VotingDeadlineBlocks, 1, genesis.MaxVotingDeadlineBlocks, false, false},
		{"max_tx_bytes", s.MaxTxBytes, 1024, 8 << 20, false, false},
		{"max_memo_bytes", s.MaxMemoBytes, 1, 8 << 20, false, false},
		{"max_label_bytes", s.MaxLabelBytes, 1, 1024, false, false},
	} {
		switch {
		case b.v == nil:
		case b.research && ap.Research == nil:
			return "", 0, fmt.Errorf("%w: %s: this alliance has no research section", contracts.ErrWrongState, b.name)
		case b.he && ap.He == nil:
			return "", 0, fmt.Errorf("%w: %s: this alliance has no he section", contracts.ErrWrongState, b.name)
		case *b.v < b.lo || *b.v > b.hi:
			if b.name == "threshold" {
				return "", 0, fmt.Errorf("%w: threshold %d must be in [1, %d members]", ErrAllianceFloor, *b.v, len(members))
			}
			return "", 0, invalid("%s: %d must be in [%d, %d]", b.name, *b.v, b.lo, b.hi)
		}
	}
	set := func(dst *uint64, v *uint64) {
		if v != nil {
			*dst = *v
		}
	}
	if ap.Research != nil {
		set(&ap.Research.MinCohort, s.MinCohort)
		set(&ap.Research.ContributionDeadlineBlocks, s.ContributionDeadlineBlocks)
		set(&ap.Research.BudgetMicro, s.BudgetMicro)
		set(&ap.Research.MaxPatients, s.MaxPatients)
	}
	if ap.He != nil {
		set(&ap.He.ShareDeadlineBlocks, s.ShareDeadlineBlocks)
		if s.Threshold != nil {
			ap.He.Threshold = *s.Threshold
		}
	}
	if s.VotingDeadlineBlocks != nil {
		if ap.Gov == nil {
			ap.Gov = genesis.DefaultGovernance().Proto()
		}
		ap.Gov.VotingDeadlineBlocks = *s.VotingDeadlineBlocks
	}
	set(&ap.MaxTxBytes, s.MaxTxBytes)
	set(&ap.MaxMemoBytes, s.MaxMemoBytes)
	set(&ap.MaxLabelBytes, s.MaxLabelBytes)
	if ap.MaxMemoBytes > ap.MaxTxBytes {
		return "", 0, invalid("max_memo_bytes %d would exceed max_tx_bytes %d", ap.MaxMemoBytes, ap.MaxTxBytes)
	}
	if err := contracts.SetRecord(ctx.Store, accounts.ParamsKey(), ap); err != nil {
		return "", 0, err
	}
	var epoch uint64
	if ap.He != nil && ap.He.Threshold != cur.He.Threshold {
		if epoch, err = startEpoch(ctx, ap.He.Threshold); err != nil {
			return "", 0, err
		}
	}
	return "parameters changed: " + changed(s), epoch, nil
}

// changed lists the fields s sets, "name=value" in field order.
func changed(s *pb.SetParams) string {
	var out []string
	s.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
		out = append(out, fmt.Sprintf("%s=%v", fd.Name(), v.Interface()))
		return true
	})
	slices.Sort(out)
	return strings.Join(out, ", ")
}

func roleName(r pb.Role) string {
	return map[pb.Role]string{
		pb.Role_ROLE_OPERATOR: "operator", pb.Role_ROLE_DOCTOR: "doctor", pb.Role_ROLE_PATIENT: "patient",
		pb.Role_ROLE_RESEARCHER: "researcher", pb.Role_ROLE_AUDITOR: "auditor", pb.Role_ROLE_UNSPECIFIED: "account without a role",
	}[r]
}
