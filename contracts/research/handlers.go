package research

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/hekeys"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/he"
)

// Tx types and events of this contract.
const (
	TypeSubmit     = "research.submit"
	TypeContribute = "research.contribute"

	EventSubmitted   = "research.submitted"   // id, researcher, slots, deadline_height, rho_micro
	EventContributed = "research.contributed" // id, member
	EventAggregated  = "research.aggregated"  // id, contributors, gate_request (plaintext: count)
	EventGated       = "research.gated"       // id, noised_count, release_request
	EventReleased    = "research.released"    // id, result_hash (plaintext: plaintext=true)
	EventRefused     = "research.refused"     // id, reason
	EventFailed      = "research.failed"      // id, reason
)

// Handlers returns this contract's tx handlers.
func Handlers() []contracts.Handler {
	return []contracts.Handler{
		{
			Type: TypeSubmit, Roles: []pb.Role{pb.Role_ROLE_RESEARCHER},
			New: func() proto.Message { return &pb.SubmitQuery{} },
			Validate: func(m proto.Message) error {
				s := m.(*pb.SubmitQuery)
				if err := query.Validate(s.Query, query.DefaultLimits); err != nil {
					return err
				}
				switch {
				case s.Plaintext && len(s.ResearcherKey) != 0:
					return errors.New("researcher_key must be empty in a plaintext-baseline query: its result is released in plain, not switched to a key")
				case !s.Plaintext && len(s.ResearcherKey) == 0:
					return errors.New("researcher_key is required: the result is switched to it (medchain research keygen)")
				}
				return nil
			},
			Check: func(r contracts.Reader, m proto.Message) error {
				if m.(*pb.SubmitQuery).Plaintext {
					return nil // no key; the contract decides whether the alliance allows it
				}
				p, _, err := hekeys.Params(r)
				if err != nil {
					return err
				}
				if err := p.ValidateResearcherKey(m.(*pb.SubmitQuery).ResearcherKey); err != nil {
					return invalid("researcher_key: %v", err)
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execSubmit(ctx, m.(*pb.SubmitQuery)) },
		},
		{
			Type: TypeContribute, Roles: []pb.Role{pb.Role_ROLE_OPERATOR},
			SimulateInCheckTx: true,
			New:               func() proto.Message { return &pb.Contribute{} },
			Check: func(r contracts.Reader, m proto.Message) error {
				c := m.(*pb.Contribute)
				if plain, err := contributionKind(c); err != nil || plain {
					if err != nil {
						return err
					}
					lim, err := Limits(r)
					if err != nil {
						return err
					}
					if q, err := GetQuery(r, c.Query); err != nil {
						return err
					} else if q != nil {
						lim = QueryLimits(lim, q)
					} // an unknown query is refused in Exec
					return checkPlainContribution(c, lim)
				}
				p, _, err := hekeys.Params(r)
				if err != nil {
					return err
				}
				if err := p.ValidateCiphertext(c.Result); err != nil {
					return invalid("result: %v", err)
				}
				if err := p.ValidateCiphertext(c.Count); err != nil {
					return invalid("count: %v", err)
				}
				return nil
			},
			Exec: func(ctx *contracts.Context, m proto.Message) error { return execContribute(ctx, m.(*pb.Contribute)) },
		},
	}
}

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", contracts.ErrInvalidPayload, fmt.Sprintf(format, a...))
}

// Params returns the alliance's research rules, or ErrWrongState if it has
// none.
func Params(r contracts.Reader) (*pb.ResearchParams, error) {
	ap, err := accounts.GetParams(r)
	if err != nil {
		return nil, err
	}
	if ap.Research == nil || ap.He == nil {
		return nil, fmt.Errorf("%w: this alliance has no research parameters in genesis", contracts.ErrWrongState)
	}
	return ap.Research, nil
}

// Limits are the query limits of this alliance: its HE parameters' slots
// and exact range (with 16× headroom for the noise and the members' sum),
// and its bound on persons. Hospitals and researchers use the same.
func Limits(r contracts.Reader) (query.Limits, error) {
	rp, err := Params(r)
	if err != nil {
		return query.Limits{}, err
	}
	p, _, err := hekeys.Params(r)
	if err != nil {
		return query.Limits{}, err
	}
	return LimitsOf(p, rp), nil
}

// LimitsOf is Limits for HE parameters p and research rules rp, for
// callers that read them from a "/params" answer rather than from state.
func LimitsOf(p *he.Params, rp *pb.ResearchParams) query.Limits {
	return query.Limits{MaxSlots: p.Slots(), SlotBound: p.MaxAbs() >> 4, MaxPatients: int64(rp.MaxPatients)}
}

// QueryLimits are the limits query q is laid out under: lim, the
// alliance's, with the bound on persons recorded when q was submitted, so
// a later change of research.max_patients never moves a running query's
// layout under the hospitals, the contract or the researcher.
func QueryLimits(lim query.Limits, q *pb.ResearchQuery) query.Limits {
	if n := q.GetMaxPatients(); n != 0 { // every query the contract stores has it
		lim.MaxPatients = int64(n)
	}
	return lim
}

// GetQuery returns query id, or nil.
func GetQuery(r contracts.Reader, id uint64) (*pb.ResearchQuery, error) {
	var q pb.ResearchQuery
	ok, err := contracts.GetRecord(r, QueryKey(id), &q)
	if !ok || err != nil {
		return nil, err
	}
	return &q, nil
}

// GetBudget returns addr's ledger; a researcher who never spent has the
// alliance's budget_micro granted and nothing spent.
func GetBudget(r contracts.Reader, addr string) (*pb.Budget, error) {
	a, err := pb.ParseAddress(addr)
	if err != nil {
		return nil, err
	}
	var b pb.Budget
	ok, err := contracts.GetRecord(r, BudgetKey(a), &b)
	if err != nil {
		return nil, err
	}
	if !ok {
		rp, err := Params(r)
		if err != nil {
			return nil, err
		}
		return &pb.Budget{Researcher: addr, GrantedMicro: rp.BudgetMicro}, nil
	}
	return &b, nil
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }

func execSubmit(ctx *contracts.Context, m *pb.SubmitQuery) error {
	rp, err := Params(ctx.Store)
	if err != nil {
		return err
	}
	lim, err := Limits(ctx.Store)
	if err != nil {
		return err
	}
	q := proto.Clone(m.Query).(*pb.Query)
	if q.RefDate == 0 {
		y, mo, d := ctx.Block.Time.UTC().Date()
		q.RefDate = uint32(y*10000 + int(mo)*100 + d)
	}
	if err := query.Validate(q, lim); err != nil {
		return fmt.Errorf("%w: %v", contracts.ErrInvalidPayload, err)
	}
	plan, err := query.Layout(q, lim)
	if err != nil {
		return fmt.Errorf("%w: %v", contracts.ErrInvalidPayload, err)
	}
	ep, err := hekeys.LatestReadyEpoch(ctx.Store)
	if err != nil {
		return err
	}
	if m.Plaintext {
		if err := allowPlaintext(rp); err != nil {
			return err
		}
	}
	switch {
	case rp.DpOff && m.RhoMicro != 0:
		return invalid("this alliance runs without differential privacy (test mode): rho_micro must be 0")
	case !rp.DpOff && m.RhoMicro == 0:
		return invalid("rho_micro must be at least 1: every query spends privacy budget")
	}
	if !rp.DpOff {
		// The hospitals' noise must keep every slot of the sum exact. With
		// the pinned parameters (16·2^40 of range, wide figures) even
		// ρ = 10⁻⁶ fits; the check guards other parameter sets.
		if err := query.CheckRange(plan, m.RhoMicro, query.Shares(len(ep.Members), int(ep.Threshold)), len(ep.Members), lim); err != nil {
			return fmt.Errorf("%w: %v", contracts.ErrInvalidPayload, err)
		}
	}
	budget, err := GetBudget(ctx.Store, ctx.Signer.Address)
	if err != nil {
		return err
	}
	if left := budget.GrantedMicro - min(budget.SpentMicro, budget.GrantedMicro); m.RhoMicro > left {
		return fmt.Errorf("%w: privacy budget: this query asks ρ = %s, %s of %s is left; ask for less, or for more budget", contracts.ErrDenied,
			micro(m.RhoMicro), micro(left), micro(budget.GrantedMicro))
	}
	budget.SpentMicro += m.RhoMicro
	addr, err := pb.ParseAddress(ctx.Signer.Address)
	if err != nil {
		return err
	}
	if err := contracts.SetRecord(ctx.Store, BudgetKey(addr), budget); err != nil {
		return err
	}
	var keyHash []byte
	if !m.Plaintext {
		if keyHash, err = hekeys.PutBlob(ctx.Store, m.ResearcherKey); err != nil {
			return err
		}
	}
	var id uint64 = 1
	if b, err := ctx.Store.Get(nextIDKey()); err != nil {
		return err
	} else if b != nil {
		id = binary.BigEndian.Uint64(b)
	}
	rq := &pb.ResearchQuery{
		Id: id, Researcher: ctx.Signer.Address, Query: q, ResearcherKeyHash: keyHash, RhoMicro: m.RhoMicro,
		Epoch: ep.Epoch, Height: ctx.Block.Height, DeadlineHeight: ctx.Block.Height + int64(rp.ContributionDeadlineBlocks),
		Status: pb.ResearchQuery_STATUS_COLLECTING, StatusHeight: ctx.Block.Height, Slots: uint32(plan.Slots), DpOff: rp.DpOff,
		Plaintext: m.Plaintext, MaxPatients: rp.MaxPatients,
	}
	for _, kv := range []struct{ k, v []byte }{
		{nextIDKey(), u64(nil, id+1)},
		{activeKey(id), u64(nil, id)},
		{byResearcherKey(addr, id), u64(nil, id)},
	} {
		if err := ctx.Store.Set(kv.k, kv.v); err != nil {
			return err
		}
	}
	if err := contracts.SetRecord(ctx.Store, QueryKey(id), rq); err != nil {
		return err
	}
	attrs := []contracts.Attr{
		{Key: "id", Value: itoa(id), Index: true},
		{Key: "researcher", Value: rq.Researcher, Index: true},
		{Key: "slots", Value: itoa(uint64(plan.Slots))},
		{Key: "rho_micro", Value: itoa(m.RhoMicro)},
		{Key: "deadline_height", Value: strconv.FormatInt(rq.DeadlineHeight, 10)},
	}
	if rq.Plaintext {
		attrs = append(attrs, contracts.Attr{Key: "plaintext", Value: "true"})
	}
	ctx.Emit(EventSubmitted, attrs...)
	return nil
}

// micro writes a millionths amount as a decimal ("0.5").
func micro(v uint64) string {
	s := fmt.Sprintf("%d.%06d", v/1_000_000, v%1_000_000)
	for s[len(s)-1] == '0' {
		s = s[:len(s)-1]
	}
	if s[len(s)-1] == '.' {
		s = s[:len(s)-1]
	}
	return s
}

func execContribute(ctx *contracts.Context, m *pb.Contribute) error {
	p, _, err := hekeys.Params(ctx.Store)
	if err != nil {
		return err
	}
	member, err := hekeys.MemberOf(ctx)
	if err != nil {
		return err
	}
	q, err := GetQuery(ctx.Store, m.Query)
	if err != nil {
		return err
	}
	switch {
	case q == nil:
		return fmt.Errorf("%w: no research query %d", contracts.ErrNotFound, m.Query)
	case q.Status != pb.ResearchQuery_STATUS_COLLECTING:
		return fmt.Errorf("%w: query %d is %s, it takes no more contributions", contracts.ErrWrongState, q.Id, q.Status)
	case ctx.Block.Height > q.DeadlineHeight:
		return fmt.Errorf("%w: query %d took contributions until height %d", contracts.ErrWrongState, q.Id, q.DeadlineHeight)
	case slices.Contains(q.Contributors, member):
		return fmt.Errorf("%w: member %d already contributed to query %d", contracts.ErrExists, member, q.Id)
	}
	ep, err := hekeys.GetEpoch(ctx.Store, q.Epoch)
	if err != nil {
		return err
	}
	if ep == nil || !slices.Contains(ep.Members, member) {
		return fmt.Errorf("%w: member %d holds no share of key epoch %d", contracts.ErrUnauthorized, member, q.Epoch)
	}
	rec := &pb.Contribution{Query: q.Id, Member: member, Height: ctx.Block.Height}
	if q.Plaintext {
		if err := plainContribution(ctx, q, m, rec); err != nil {
			return err
		}
	} else {
		if plain, err := contributionKind(m); err != nil || plain {
			if err != nil {
				return err
			}
			return invalid("query %d is encrypted: send its figures encrypted under the collective key (result, count); plain_result and plain_count are for plaintext-baseline queries only", q.Id)
		}
		if err := p.ValidateCiphertext(m.Result); err != nil {
			return invalid("result: %v", err)
		}
		if err := p.ValidateCiphertext(m.Count); err != nil {
			return invalid("count: %v", err)
		}
		if rec.ResultHash, err = hekeys.PutBlob(ctx.Store, m.Result); err != nil {
			return err
		}
		if rec.CountHash, err = hekeys.PutBlob(ctx.Store, m.Count); err != nil {
			return err
		}
	}
	if err := contracts.SetRecord(ctx.Store, ContributionKey(q.Id, member), rec); err != nil {
		return err
	}
	q.Contributors = append(q.Contributors, member)
	slices.Sort(q.Contributors)
	ctx.Emit(EventContributed,
		contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
		contracts.Attr{Key: "member", Value: itoa(member), Index: true})
	if len(q.Contributors) == len(ep.Members) {
		if err := aggregate(ctx, q); err != nil {
			return err
		}
	}
	return contracts.SetRecord(ctx.Store, QueryKey(q.Id), q)
}

// aggregate sums the contributions of q homomorphically and asks the
// members to decrypt the summed cohort count in public (the gate). q is
// changed in place; the caller stores it.
func aggregate(ctx *contracts.Context, q *pb.ResearchQuery) error {
	if q.Plaintext {
		return aggregatePlain(ctx, q)
	}
	p, _, err := hekeys.Params(ctx.Store)
	if err != nil {
		return err
	}
	results := make([][]byte, 0, len(q.Contributors))
	counts := make([][]byte, 0, len(q.Contributors))
	for _, member := range q.Contributors {
		var c pb.Contribution
		if _, err := contracts.GetRecord(ctx.Store, ContributionKey(q.Id, member), &c); err != nil {
			return err
		}
		for _, x := range []struct {
			h   []byte
			out *[][]byte
		}{{c.ResultHash, &results}, {c.CountHash, &counts}} {
			b, err := hekeys.GetBlob(ctx.Store, x.h)
			if err != nil {
				return err
			}
			*x.out = append(*x.out, b)
		}
	}
	agg, err := p.Add(results...)
	if err != nil {
		return fail(ctx, q, fmt.Sprintf("adding the contributions: %v", err))
	}
	countAgg, err := p.Add(counts...)
	if err != nil {
		return fail(ctx, q, fmt.Sprintf("adding the cohort counts: %v", err))
	}
	if q.AggregateHash, err = hekeys.PutBlob(ctx.Store, agg); err != nil {
		return err
	}
	if q.CountAggregateHash, err = hekeys.PutBlob(ctx.Store, countAgg); err != nil {
		return err
	}
	req, err := openRequest(ctx, q, countAgg, nil, "the cohort count cannot be decrypted")
	if err != nil || req == nil {
		return err
	}
	q.GateRequest = req.Id
	setStatus(ctx, q, pb.ResearchQuery_STATUS_GATING)
	ctx.Emit(EventAggregated,
		contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
		contracts.Attr{Key: "contributors", Value: joinIdx(q.Contributors)},
		contracts.Attr{Key: "gate_request", Value: itoa(req.Id)})
	return nil
}

// openRequest opens a one-shot decryption request of ct for q (to the
// researcher key target, or public if nil). If the contract refuses it
// (too few live members, a mask already released), q fails with what
// and the reason, and the request is nil; a storage error is returned.
func openRequest(ctx *contracts.Context, q *pb.ResearchQuery, ct, target []byte, what string) (*pb.DecryptionRequest, error) {
	req, err := hekeys.NewRequest(ctx, q.Researcher, q.Epoch, ct, target)
	if err != nil && refusal(err) {
		return nil, fail(ctx, q, fmt.Sprintf("%s: %v", what, err))
	}
	return req, err
}

// refusal reports whether err is a contract verdict (as opposed to a
// storage failure, which must stop the block).
func refusal(err error) bool {
	for _, s := range []error{contracts.ErrWrongState, contracts.ErrInvalidPayload, contracts.ErrNotFound, contracts.ErrExists} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

func setStatus(ctx *contracts.Context, q *pb.ResearchQuery, s pb.ResearchQuery_Status) {
	q.Status, q.StatusHeight = s, ctx.Block.Height
}

// fail ends q for good with reason; the budget stays spent (the members
// may already have computed on it).
func fail(ctx *contracts.Context, q *pb.ResearchQuery, reason string) error {
	return end(ctx, q, pb.ResearchQuery_STATUS_FAILED, EventFailed, reason)
}

func end(ctx *contracts.Context, q *pb.ResearchQuery, s pb.ResearchQuery_Status, event, reason string) error {
	setStatus(ctx, q, s)
	q.Reason = reason
	if err := ctx.Store.Delete(activeKey(q.Id)); err != nil {
		return err
	}
	ctx.Emit(event,
		contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
		contracts.Attr{Key: "reason", Value: reason})
	return nil
}

func joinIdx(v []uint64) string {
	s := ""
	for i, x := range v {
		if i > 0 {
			s += ","
		}
		s += itoa(x)
	}
	return s
}

// EndBlock moves every active query on, in id order, after the block's txs
// and after hekeys.EndBlock (so a request that failed at its deadline is
// seen failed): contributions past their deadline are aggregated; a
// decrypted cohort count opens or refuses the release; a switched result
// releases the query.
func EndBlock(ctx *contracts.Context) error {
	ids, err := contracts.IDsIn(ctx.Store, []byte{prefixActive}, []byte{prefixActive + 1})
	if err != nil {
		return err
	}
	rp, err := Params(ctx.Store)
	if err != nil {
		if errors.Is(err, contracts.ErrWrongState) {
			return nil // no research in this alliance
		}
		return err
	}
	for _, id := range ids {
		q, err := GetQuery(ctx.Store, id)
		if err != nil {
			return err
		}
		if q == nil {
			continue
		}
		before := proto.Clone(q)
		if err := step(ctx, rp, q); err != nil {
			return err
		}
		if !proto.Equal(before, q) {
			if err := contracts.SetRecord(ctx.Store, QueryKey(id), q); err != nil {
				return err
			}
		}
	}
	return nil
}

func step(ctx *contracts.Context, rp *pb.ResearchParams, q *pb.ResearchQuery) error {
	switch q.Status {
	case pb.ResearchQuery_STATUS_COLLECTING:
		if ctx.Block.Height <= q.DeadlineHeight {
			return nil
		}
		if len(q.Contributors) == 0 {
			return fail(ctx, q, fmt.Sprintf("no member contributed by height %d", q.DeadlineHeight))
		}
		if !q.DpOff {
			// The noise is calibrated on m = N − t + 1 hospitals' shares
			// (docs/DP.md): fewer would release less noise than promised.
			ep, err := hekeys.GetEpoch(ctx.Store, q.Epoch)
			if err != nil {
				return err
			}
			if m := query.Shares(len(ep.GetMembers()), int(ep.GetThreshold())); len(q.Contributors) < m {
				return fail(ctx, q, fmt.Sprintf("only %d hospitals contributed by height %d; the privacy guarantee counts on the noise of %d", len(q.Contributors), q.DeadlineHeight, m))
			}
		}
		return aggregate(ctx, q)
	case pb.ResearchQuery_STATUS_GATING:
		req, err := hekeys.GetRequest(ctx.Store, q.GateRequest)
		if err != nil || req == nil {
			return err
		}
		switch req.Status {
		case pb.DecryptionRequest_STATUS_FAILED:
			return fail(ctx, q, "decrypting the cohort count failed: "+req.Reason)
		case pb.DecryptionRequest_STATUS_DONE:
		default:
			return nil
		}
		var count int64
		if len(req.ResultValues) > 0 {
			count = req.ResultValues[0]
		}
		q.NoisedCount = count
		if count < int64(rp.MinCohort) {
			return end(ctx, q, pb.ResearchQuery_STATUS_REFUSED, EventRefused,
				fmt.Sprintf("cohort too small: the noised count is %d, the alliance releases %d or more", count, rp.MinCohort))
		}
		agg, err := hekeys.GetBlob(ctx.Store, q.AggregateHash)
		if err != nil {
			return err
		}
		key, err := hekeys.GetBlob(ctx.Store, q.ResearcherKeyHash)
		if err != nil {
			return err
		}
		rel, err := openRequest(ctx, q, agg, key, "the result cannot be switched")
		if err != nil || rel == nil {
			return err
		}
		q.ReleaseRequest = rel.Id
		setStatus(ctx, q, pb.ResearchQuery_STATUS_RELEASING)
		ctx.Emit(EventGated,
			contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
			contracts.Attr{Key: "noised_count", Value: strconv.FormatInt(count, 10)},
			contracts.Attr{Key: "release_request", Value: itoa(rel.Id)})
	case pb.ResearchQuery_STATUS_RELEASING:
		req, err := hekeys.GetRequest(ctx.Store, q.ReleaseRequest)
		if err != nil || req == nil {
			return err
		}
		switch req.Status {
		case pb.DecryptionRequest_STATUS_FAILED:
			return fail(ctx, q, "switching the result failed: "+req.Reason)
		case pb.DecryptionRequest_STATUS_DONE:
			q.ResultHash = req.ResultHash
			setStatus(ctx, q, pb.ResearchQuery_STATUS_RELEASED)
			if err := ctx.Store.Delete(activeKey(q.Id)); err != nil {
				return err
			}
			ctx.Emit(EventReleased,
				contracts.Attr{Key: "id", Value: itoa(q.Id), Index: true},
				contracts.Attr{Key: "result_hash", Value: hex.EncodeToString(q.ResultHash)})
		}
	}
	return nil
}

// ActiveQueries lists the queries still in progress, in id order (for the
// members' workers).
func ActiveQueries(r contracts.Reader) ([]*pb.ResearchQuery, error) {
	ids, err := contracts.IDsIn(r, []byte{prefixActive}, []byte{prefixActive + 1})
	if err != nil {
		return nil, err
	}
	return queriesByID(r, ids)
}

// queriesByID reads the queries of ids, skipping any that is missing.
func queriesByID(r contracts.Reader, ids []uint64) ([]*pb.ResearchQuery, error) {
	out := make([]*pb.ResearchQuery, 0, len(ids))
	for _, id := range ids {
		q, err := GetQuery(r, id)
		if err != nil {
			return nil, err
		}
		if q != nil {
			out = append(out, q)
		}
	}
	return out, nil
}
