package governance

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/genesis"
)

// Tx types and events of this contract.
const (
	TypePropose = "gov.propose"
	TypeVote    = "gov.vote"

	EventProposed = "gov.proposed" // id, proposer, hospital, action, deadline_height, electorate
	EventVoted    = "gov.voted"    // id, hospital, vote, yes, no, electorate
	EventPassed   = "gov.passed"   // id, action, yes, no, electorate
	EventRejected = "gov.rejected" // id, action, yes, no, electorate
	EventExpired  = "gov.expired"  // id, action, yes, no, electorate
	EventExecuted = "gov.executed" // id, action, outcome ("ok" or "failed"), detail, key_epoch
)

// Action names, as events and the CLI spell them.
const (
	ActionAdmitHospital   = "admit-hospital"
	ActionRemoveHospital  = "remove-hospital"
	ActionRegisterAccount = "register-account"
	ActionRetireAccount   = "retire-account"
	ActionGrantBudget     = "grant-budget"
	ActionSetParams       = "set-params"
)

// maxReasonBytes bounds a proposal's reason before state is read; in a
// block the alliance's max_memo_bytes applies too.
const maxReasonBytes = 4096

// Handlers returns this contract's tx handlers. Only operators send them,
// and only those of member hospitals get past Exec.
func Handlers() []contracts.Handler {
	operator := []pb.Role{pb.Role_ROLE_OPERATOR}
	return []contracts.Handler{
		{
			Type: TypePropose, Roles: operator,
			New:      func() proto.Message { return &pb.Propose{} },
			Validate: func(m proto.Message) error { return ValidatePropose(m.(*pb.Propose)) },
			Exec:     func(ctx *contracts.Context, m proto.Message) error { return execPropose(ctx, m.(*pb.Propose)) },
		},
		{
			Type: TypeVote, Roles: operator,
			New: func() proto.Message { return &pb.Vote{} },
			Validate: func(m proto.Message) error {
				if m.(*pb.Vote).Proposal == 0 {
					return errors.New("proposal is 0; proposal ids start at 1 (`medchain gov list`)")
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execVote(ctx, m.(*pb.Vote)) },
		},
	}
}

// ActionOf names the action of p ("" if it has none).
func ActionOf(p *pb.Propose) string {
	switch p.GetAction().(type) {
	case *pb.Propose_AdmitHospital:
		return ActionAdmitHospital
	case *pb.Propose_RemoveHospital:
		return ActionRemoveHospital
	case *pb.Propose_RegisterAccount:
		return ActionRegisterAccount
	case *pb.Propose_RetireAccount:
		return ActionRetireAccount
	case *pb.Propose_GrantBudget:
		return ActionGrantBudget
	case *pb.Propose_SetParams:
		return ActionSetParams
	}
	return ""
}

// ValidatePropose checks a proposal without state: one action, well
// formed. The CLI runs it before sending.
func ValidatePropose(p *pb.Propose) error {
	if len(p.Reason) > maxReasonBytes {
		return fmt.Errorf("reason is %d bytes, at most %d", len(p.Reason), maxReasonBytes)
	}
	switch a := p.GetAction().(type) {
	case *pb.Propose_AdmitHospital:
		return validateAdmit(a.AdmitHospital)
	case *pb.Propose_RemoveHospital:
		return genesis.CheckHospitalID(a.RemoveHospital.GetId())
	case *pb.Propose_RegisterAccount:
		r := a.RegisterAccount
		if r.Role != pb.Role_ROLE_RESEARCHER && r.Role != pb.Role_ROLE_AUDITOR {
			return fmt.Errorf("role %s: the alliance registers researchers and auditors (hospitals enrol doctors and patients; hospitals are admitted)", r.Role)
		}
		if err := checkKey("pubkey", r.Pubkey); err != nil {
			return err
		}
		if r.Label == "" {
			return errors.New("label is empty; give a short non-identifying label")
		}
	case *pb.Propose_RetireAccount:
		if _, err := pb.ParseAddress(a.RetireAccount.GetAddress()); err != nil {
			return fmt.Errorf("address: %w", err)
		}
	case *pb.Propose_GrantBudget:
		g := a.GrantBudget
		if _, err := pb.ParseAddress(g.Researcher); err != nil {
			return fmt.Errorf("researcher: %w", err)
		}
		if g.RhoMicro == 0 || g.RhoMicro > maxBudgetMicro {
			return fmt.Errorf("rho_micro %d must be in [1, %d]", g.RhoMicro, uint64(maxBudgetMicro))
		}
	case *pb.Propose_SetParams:
		if proto.Size(a.SetParams) == 0 {
			return errors.New("set_params changes nothing: set at least one parameter")
		}
	case nil:
		return errors.New("no action: propose exactly one of admit_hospital, remove_hospital, register_account, retire_account, grant_budget, set_params")
	default:
		return fmt.Errorf("unknown action %T", a)
	}
	return nil
}

func validateAdmit(a *pb.AdmitHospital) error {
	if a == nil {
		return errors.New("admit_hospital is empty")
	}
	if err := genesis.CheckHospitalID(a.Id); err != nil {
		return err
	}
	if a.Name == "" {
		return errors.New("name is empty")
	}
	if err := checkKey("validator_pubkey", a.ValidatorPubkey); err != nil {
		return err
	}
	if err := checkKey("operator_pubkey", a.OperatorPubkey); err != nil {
		return err
	}
	if a.Power <= 0 || a.Power > maxPower {
		return fmt.Errorf("power %d must be in [1, %d]", a.Power, int64(maxPower))
	}
	if len(a.SealPubkey) != 0 {
		if err := checkKey("seal_pubkey", a.SealPubkey); err != nil {
			return err
		}
	}
	return nil
}

// maxPower is genesis's bound on a validator's power.
const maxPower = 1 << 40

// checkKey refuses a key that is not 32 bytes, or is all zeros.
func checkKey(what string, k []byte) error {
	if len(k) != ed25519.PublicKeySize {
		return fmt.Errorf("%s is %d bytes, want %d (`medchain keys show` prints a key)", what, len(k), ed25519.PublicKeySize)
	}
	if !slices.ContainsFunc(k, func(b byte) bool { return b != 0 }) {
		return fmt.Errorf("%s is all zeros, not a key", what)
	}
	return nil
}

func execPropose(ctx *contracts.Context, m *pb.Propose) error {
	h, err := memberOf(ctx)
	if err != nil {
		return err
	}
	ap, err := accounts.GetParams(ctx.Store)
	if err != nil {
		return err
	}
	if uint64(len(m.Reason)) > ap.MaxMemoBytes {
		return fmt.Errorf("%w: reason is %d bytes, the limit is max_memo_bytes = %d", contracts.ErrInvalidPayload, len(m.Reason), ap.MaxMemoBytes)
	}
	gp, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	// A proposal that could not be carried out now is refused at once: it
	// runs on a copy of state that is then dropped.
	dry := contracts.NewContext(ctx.Block, contracts.NewCache(ctx.Store), ctx.Signer, ctx.Nonce)
	if _, _, err := apply(dry, m); err != nil {
		return err
	}
	members, err := accounts.Members(ctx.Store)
	if err != nil {
		return err
	}
	electorate := make([]string, 0, len(members))
	for _, mh := range members {
		electorate = append(electorate, mh.Id)
	}
	id, err := nextID(ctx.Store)
	if err != nil {
		return err
	}
	p := &pb.Proposal{
		Id: id, Proposer: ctx.Signer.Address, Propose: m, Height: ctx.Block.Height,
		DeadlineHeight: ctx.Block.Height + int64(gp.VotingDeadlineBlocks),
		Electorate:     electorate, Yes: []string{h.Id},
		Status: pb.Proposal_STATUS_OPEN, StatusHeight: ctx.Block.Height,
	}
	ctx.Emit(EventProposed,
		indexed("id", itoa(id)), indexed("proposer", ctx.Signer.Address), indexed("hospital", h.Id),
		indexed("action", ActionOf(m)), attr("deadline_height", strconv.FormatInt(p.DeadlineHeight, 10)),
		attr("electorate", strconv.Itoa(len(electorate))))
	emitVoted(ctx, p, h.Id, true)
	if err := ctx.Store.Set(openKey(p.DeadlineHeight, id), u64(nil, id)); err != nil {
		return err
	}
	if err := decide(ctx, p); err != nil {
		return err
	}
	return contracts.SetRecord(ctx.Store, ProposalKey(id), p)
}

func execVote(ctx *contracts.Context, m *pb.Vote) error {
	h, err := memberOf(ctx)
	if err != nil {
		return err
	}
	p, err := GetProposal(ctx.Store, m.Proposal)
	if err != nil {
		return err
	}
	switch {
	case p == nil:
		return fmt.Errorf("%w: no proposal %d (`medchain gov list`)", contracts.ErrNotFound, m.Proposal)
	case p.Status != pb.Proposal_STATUS_OPEN:
		return fmt.Errorf("%w: proposal %d is %s since height %d", ErrVotingClosed, p.Id, statusName(p.Status), p.StatusHeight)
	case ctx.Block.Height > p.DeadlineHeight:
		return fmt.Errorf("%w: proposal %d took votes until height %d", ErrVotingClosed, p.Id, p.DeadlineHeight)
	case !slices.Contains(p.Electorate, h.Id):
		return fmt.Errorf("%w: hospital %s was not a member when proposal %d was made; its electorate is %s", contracts.ErrDenied, h.Id, p.Id, strings.Join(p.Electorate, ","))
	case slices.Contains(p.Yes, h.Id) || slices.Contains(p.No, h.Id):
		return fmt.Errorf("%w: hospital %s on proposal %d (a proposer's proposal is its yes vote)", ErrAlreadyVoted, h.Id, p.Id)
	}
	if m.Yes {
		p.Yes = append(p.Yes, h.Id)
		slices.Sort(p.Yes)
	} else {
		p.No = append(p.No, h.Id)
		slices.Sort(p.No)
	}
	emitVoted(ctx, p, h.Id, m.Yes)
	if err := decide(ctx, p); err != nil {
		return err
	}
	return contracts.SetRecord(ctx.Store, ProposalKey(p.Id), p)
}

// Passes reports whether yes votes out of an electorate of n carry a
// proposal: strictly more than two thirds, yes·3 > n·2 (exactly two thirds
// is not enough).
func Passes(yes, n int) bool { return yes*3 > n*2 }

// decide closes p if its votes settle it: passed (and executed at once)
// or rejected, when even every missing vote as yes could not carry it.
func decide(ctx *contracts.Context, p *pb.Proposal) error {
	n := len(p.Electorate)
	switch {
	case Passes(len(p.Yes), n):
		ctx.Emit(EventPassed, tally(p)...)
		if err := execute(ctx, p); err != nil {
			return err
		}
	case !Passes(n-len(p.No), n):
		p.Status, p.StatusHeight = pb.Proposal_STATUS_REJECTED, ctx.Block.Height
		ctx.Emit(EventRejected, tally(p)...)
	default:
		return nil
	}
	return ctx.Store.Delete(openKey(p.DeadlineHeight, p.Id))
}

// execute carries out a passed proposal atomically: its writes, events and
// validator updates all land, or, if the action is no longer possible
// (state changed since it was proposed), none do and p is marked failed.
func execute(ctx *contracts.Context, p *pb.Proposal) error {
	cache := contracts.NewCache(ctx.Store)
	sub := contracts.NewContext(ctx.Block, cache, ctx.Signer, ctx.Nonce)
	detail, epoch, err := apply(sub, p.Propose)
	outcome := "ok"
	p.StatusHeight = ctx.Block.Height
	if err != nil {
		if !isVerdict(err) {
			return err
		}
		outcome, detail = "failed", err.Error()
		p.Status = pb.Proposal_STATUS_FAILED
	} else {
		if err := cache.Write(); err != nil {
			return err
		}
		for _, e := range sub.Events() {
			ctx.Emit(e.Type, e.Attrs...)
		}
		for _, v := range sub.ValidatorUpdates() {
			ctx.UpdateValidator(v.PubKey, v.Power)
		}
		p.Status, p.KeyEpoch = pb.Proposal_STATUS_EXECUTED, epoch
	}
	p.Outcome = detail
	ctx.Emit(EventExecuted,
		indexed("id", itoa(p.Id)), indexed("action", ActionOf(p.Propose)), indexed("outcome", outcome),
		attr("detail", detail), attr("key_epoch", itoa(p.KeyEpoch)))
	return nil
}

// isVerdict reports whether err is the contract's refusal of an action,
// as opposed to a storage failure.
func isVerdict(err error) bool {
	for _, s := range []error{contracts.ErrInvalidPayload, contracts.ErrNotFound, contracts.ErrExists, contracts.ErrWrongState, contracts.ErrUnauthorized} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// EndBlock expires, at the end of their deadline block, the proposals
// still open.
func EndBlock(ctx *contracts.Context) error {
	end := openKey(ctx.Block.Height+1, 0) // deadlines ≤ height
	it, err := ctx.Store.Iterator([]byte{prefixOpen}, end, true)
	if err != nil {
		return err
	}
	var ids []uint64
	var keys [][]byte
	for ; it.Valid(); it.Next() {
		_, id, ok := parseOpenKey(it.Key())
		if !ok {
			it.Close()
			return fmt.Errorf("governance: open-proposal key %x is malformed", it.Key())
		}
		ids, keys = append(ids, id), append(keys, slices.Clone(it.Key()))
	}
	err = it.Error()
	it.Close()
	if err != nil {
		return err
	}
	for i, id := range ids {
		if err := ctx.Store.Delete(keys[i]); err != nil {
			return err
		}
		p, err := GetProposal(ctx.Store, id)
		if err != nil {
			return err
		}
		if p == nil || p.Status != pb.Proposal_STATUS_OPEN {
			continue
		}
		p.Status, p.StatusHeight = pb.Proposal_STATUS_EXPIRED, ctx.Block.Height
		p.Outcome = fmt.Sprintf("undecided at its deadline, height %d: %d yes, %d no of %d members", p.DeadlineHeight, len(p.Yes), len(p.No), len(p.Electorate))
		ctx.Emit(EventExpired, tally(p)...)
		if err := contracts.SetRecord(ctx.Store, ProposalKey(id), p); err != nil {
			return err
		}
	}
	return nil
}

func emitVoted(ctx *contracts.Context, p *pb.Proposal, hospital string, yes bool) {
	vote := "no"
	if yes {
		vote = "yes"
	}
	ctx.Emit(EventVoted,
		indexed("id", itoa(p.Id)), indexed("hospital", hospital), attr("vote", vote),
		attr("yes", strconv.Itoa(len(p.Yes))), attr("no", strconv.Itoa(len(p.No))),
		attr("electorate", strconv.Itoa(len(p.Electorate))))
}

func tally(p *pb.Proposal) []contracts.Attr {
	return []contracts.Attr{
		indexed("id", itoa(p.Id)), indexed("action", ActionOf(p.Propose)),
		attr("yes", strconv.Itoa(len(p.Yes))), attr("no", strconv.Itoa(len(p.No))),
		attr("electorate", strconv.Itoa(len(p.Electorate))),
	}
}

// statusName is a proposal status in lower case ("open", "executed", …).
func statusName(s pb.Proposal_Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

func attr(k, v string) contracts.Attr    { return contracts.Attr{Key: k, Value: v} }
func indexed(k, v string) contracts.Attr { return contracts.Attr{Key: k, Value: v, Index: true} }
func itoa(v uint64) string               { return strconv.FormatUint(v, 10) }
