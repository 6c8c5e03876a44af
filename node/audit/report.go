package audit

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"strconv"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/contracts/research"
)

// ReportOptions select what an audit report holds. With no section set,
// every section is in the report.
type ReportOptions struct {
	// Patient, a pseudonym (64 lowercase hex digits), keeps only the
	// accesses, refusals and break-glass entries about that patient's
	// records. "" = every patient.
	Patient string
	// Since keeps only what happened at or after this height (an entry
	// made, reviewed, decided or refused then). 0 = from genesis.
	Since int64
	// Sections; none set = all.
	Accesses, BreakGlass, Queries, Governance bool
}

// Validate checks the options and says how to fix them.
func (o ReportOptions) Validate() error {
	if o.Patient != "" {
		if _, err := records.ParseID("--patient", o.Patient); err != nil {
			return fmt.Errorf("%v (a patient's pseudonym, as `medchain pseudonym` prints it)", err)
		}
	}
	if o.Since < 0 {
		return fmt.Errorf("--since %d: give a height, 0 or more", o.Since)
	}
	return nil
}

func (o ReportOptions) sectionNames() []string {
	var out []string
	if o.all() || o.Accesses {
		out = append(out, "accesses")
	}
	if o.all() || o.BreakGlass {
		out = append(out, "break_glass")
	}
	if o.Queries || (o.all() && o.Patient == "") {
		out = append(out, "queries")
	}
	if o.Governance || (o.all() && o.Patient == "") {
		out = append(out, "governance")
	}
	return out
}

func (o ReportOptions) all() bool {
	return !o.Accesses && !o.BreakGlass && !o.Queries && !o.Governance
}

// Report is an audit report: what the chain records of who read which
// record, refused attempts, break-glass entries and their reviews,
// research queries and governance, computed from a replay's own state and
// the events it re-executed — never from a node's logs. It names patients
// by pseudonym and people by address only.
type Report struct {
	ChainID string `json:"chain_id"`
	// Height is the state height the report describes (the replay's last).
	Height  int64  `json:"height"`
	AppHash string `json:"app_hash"`
	// CheckedBy says what the last height's app hash was checked against.
	CheckedBy string `json:"checked_by"`
	Patient   string `json:"patient,omitempty"`
	Since     int64  `json:"since,omitempty"`
	// Sections names the sections the report holds (the others are
	// empty because they were not asked for): "accesses" (with the
	// refusals), "break_glass", "queries" (with the budgets),
	// "governance".
	Sections []string `json:"sections"`

	Summary    Summary       `json:"summary"`
	Accesses   []Access      `json:"accesses"`
	Refusals   []Refusal     `json:"refusals"`
	BreakGlass []BreakGlass  `json:"break_glass"`
	Queries    []QueryEntry  `json:"queries"`
	Budgets    []BudgetEntry `json:"budgets"`
	Governance []Proposal    `json:"governance"`
	// Checks lists any disagreement between the replayed events and the
	// replayed state (none on a sound chain).
	Checks []string `json:"checks"`
}

// Summary counts what each section holds (after the filters).
type Summary struct {
	Blocks          int64 `json:"blocks"`
	Txs             int64 `json:"txs"`
	Accesses        int   `json:"accesses"`
	UnderGrant      int   `json:"under_grant"`
	Emergency       int   `json:"emergency"`
	Refusals        int   `json:"refusals"`
	Denied          int   `json:"denied"`
	OpenReviews     int   `json:"open_reviews"`
	ClosedReviews   int   `json:"closed_reviews"`
	Queries         int   `json:"queries"`
	BudgetRhoMicro  int64 `json:"budget_spent_rho_micro"`
	Proposals       int   `json:"proposals"`
	ProposalsPassed int   `json:"proposals_executed"`
}

// Access is one access entry: a doctor's read the chain allowed.
type Access struct {
	Entry          uint64 `json:"entry"`
	Height         int64  `json:"height"`
	Doctor         string `json:"doctor"`
	DoctorHospital string `json:"doctor_hospital"`
	Record         string `json:"record"`
	Patient        string `json:"patient"`
	Custodian      string `json:"custodian"`
	// Grant is the grant id, or "emergency" for break-glass.
	Grant   string `json:"grant"`
	Purpose string `json:"purpose"`
}

// Refusal is a tx the chain refused in a block (a non-zero code).
type Refusal struct {
	Height int64  `json:"height"`
	Tx     int    `json:"tx"`
	Hash   string `json:"hash"`
	Signer string `json:"signer"`
	Type   string `json:"type"`
	Code   uint32 `json:"code"`
	// CodeName is abci.Codes' name ("denied", "unauthorized", …).
	CodeName string `json:"code_name"`
	// Reason is the first word of a denial's reason ("not_grantee",
	// "revoked", "privacy budget"), else the code name.
	Reason string `json:"reason"`
	Log    string `json:"log"`
	// For an access request: the record, its patient and the grant asked.
	Record  string `json:"record,omitempty"`
	Patient string `json:"patient,omitempty"`
	Grant   string `json:"grant,omitempty"`
}

// BreakGlass is one break-glass access and its review.
type BreakGlass struct {
	Entry          uint64 `json:"entry"`
	Height         int64  `json:"height"`
	Doctor         string `json:"doctor"`
	DoctorHospital string `json:"doctor_hospital"`
	Record         string `json:"record"`
	Patient        string `json:"patient"`
	Custodian      string `json:"custodian"`
	// Reason is the doctor's reason as recorded on chain.
	Reason string `json:"reason"`
	// Review is "open" or "closed".
	Review       string `json:"review"`
	Finding      string `json:"finding,omitempty"`
	Reviewer     string `json:"reviewer,omitempty"`
	ReviewHeight int64  `json:"review_height,omitempty"`
	Note         string `json:"note,omitempty"`
}

// QueryEntry is one research query.
type QueryEntry struct {
	ID         uint64   `json:"id"`
	Researcher string   `json:"researcher"`
	Height     int64    `json:"height"`
	Text       string   `json:"text"`
	Statistics []string `json:"statistics"`
	Status     string   `json:"status"`
	// StatusHeight is when the status was last set.
	StatusHeight int64 `json:"status_height"`
	// Gate is the cohort gate's outcome: "not reached", "pending",
	// "passed", "refused" or "failed".
	Gate string `json:"gate"`
	// NoisedCount is the publicly decrypted, noised cohort count, once
	// the gate has run.
	NoisedCount  *int64   `json:"noised_count,omitempty"`
	RhoMicro     uint64   `json:"rho_micro"`
	Contributors []uint64 `json:"contributors"`
	Reason       string   `json:"reason,omitempty"`
	DPOff        bool     `json:"dp_off,omitempty"`
	Plaintext    bool     `json:"plaintext,omitempty"`
}

// BudgetEntry is a researcher's privacy-budget ledger.
type BudgetEntry struct {
	Researcher   string `json:"researcher"`
	GrantedMicro uint64 `json:"granted_micro"`
	SpentMicro   uint64 `json:"spent_micro"`
}

// Proposal is one governance proposal and its votes.
type Proposal struct {
	ID       uint64 `json:"id"`
	Action   string `json:"action"`
	Detail   string `json:"detail"`
	Proposer string `json:"proposer"`
	Height   int64  `json:"height"`
	Deadline int64  `json:"deadline_height"`
	// Electorate, Yes and No are hospital ids.
	Electorate []string `json:"electorate"`
	Yes        []string `json:"yes"`
	No         []string `json:"no"`
	// Votes are the gov.voted events, in chain order: the proposer's yes
	// (the proposal counts as one) first.
	Votes        []Vote `json:"votes"`
	Outcome      string `json:"outcome"`
	StatusHeight int64  `json:"status_height,omitempty"`
	// Result is what execution did, or why it failed.
	Result   string `json:"result,omitempty"`
	KeyEpoch uint64 `json:"key_epoch,omitempty"`
}

// Vote is one gov.vote, from the replayed events.
type Vote struct {
	Hospital string `json:"hospital"`
	Yes      bool   `json:"yes"`
	Height   int64  `json:"height"`
}

// BuildReport replays src from genesis (o.To, if set, ends it early; o's
// Observer is replaced) and builds the audit report from the replay's state
// and events. A chain that fails the replay has no report: the error is
// then the replay's *Failure, with its ReplayReport.
func BuildReport(ctx context.Context, src Source, o Options, ro ReportOptions) (*Report, *ReplayReport, error) {
	if err := ro.Validate(); err != nil {
		return nil, nil, err
	}
	b := &reportBuilder{opts: ro, votes: map[uint64][]Vote{}}
	o.Observer = b
	rep, err := Replay(ctx, src, o)
	if err != nil {
		return nil, rep, err
	}
	r := b.report
	r.ChainID, r.AppHash, r.CheckedBy = rep.ChainID, rep.AppHash, rep.LastCheckedBy
	r.Summary.Blocks, r.Summary.Txs = rep.Heights, rep.Txs
	return r, rep, nil
}

// reportBuilder is the Observer that gathers a report.
type reportBuilder struct {
	opts     ReportOptions
	refusals []Refusal // every refusal, unfiltered; patients filled in Final
	votes    map[uint64][]Vote
	// events counts record.accessed and breakglass.reviewed events, to
	// check them against the state.
	accessedEvents, reviewedEvents int
	report                         *Report
}

// Block gathers the refusals and the vote heights of one block.
func (b *reportBuilder) Block(height int64, txs [][]byte, res *abcitypes.ResponseFinalizeBlock) {
	for i, r := range res.GetTxResults() {
		if i >= len(txs) {
			break
		}
		for _, e := range r.Events {
			switch e.Type {
			case records.EventAccessed:
				b.accessedEvents++
			case records.EventReviewed:
				b.reviewedEvents++
			case governance.EventVoted:
				b.addVote(height, e)
			}
		}
		if r.Code != 0 {
			b.refusals = append(b.refusals, refusalOf(height, i, txs[i], r))
		}
	}
}

func (b *reportBuilder) addVote(height int64, e abcitypes.Event) {
	var v Vote
	var id uint64
	var err error
	for _, a := range e.Attributes {
		switch a.Key {
		case "id":
			id, err = strconv.ParseUint(a.Value, 10, 64)
		case "hospital":
			v.Hospital = a.Value
		case "vote":
			v.Yes = a.Value == "yes"
		}
	}
	if err == nil && id != 0 {
		v.Height = height
		b.votes[id] = append(b.votes[id], v)
	}
}

// refusalOf describes tx i of a block, refused with result r.
func refusalOf(height int64, i int, raw []byte, r *abcitypes.ExecTxResult) Refusal {
	f := Refusal{Height: height, Tx: i, Hash: fmt.Sprintf("%X", tx.Hash(raw)), Code: r.Code, Log: r.Log}
	f.CodeName = codeName(r.Code)
	f.Reason = DenialReason(r.Code, r.Log)
	d, err := tx.Decode(raw, 0)
	if err != nil {
		return f
	}
	f.Signer, f.Type = d.Body.Signer, d.Body.Type
	if d.Body.Type == records.TypeAccess {
		var m pb.RequestAccess
		if tx.Unmarshal(d.Body.Payload, &m) == nil {
			f.Record = m.RecordId
			f.Grant = grantOf(m.Grant, m.BreakGlass)
		}
	}
	return f
}

func grantOf(id uint64, breakGlass bool) string {
	if breakGlass {
		return "emergency"
	}
	return strconv.FormatUint(id, 10)
}

func codeName(code uint32) string {
	for _, e := range abci.Codes {
		if e.Code == code {
			return e.Name
		}
	}
	if code == abci.CodeInternal {
		return "internal"
	}
	return "code " + strconv.FormatUint(uint64(code), 10)
}

// deniedMarker precedes a denial's reason in a refusal's log (it ends
// contracts.ErrDenied's text; a test pins it).
const deniedMarker = "denied by the alliance's rules: "

// DenialReason returns the first word of the reason a refused tx's log
// gives: for a denial (code 16) the rule that said no ("not_grantee",
// "revoked", "privacy budget"), else the code's name. It never fails: an
// unexpected log gives the code's name.
func DenialReason(code uint32, log string) string {
	name := codeName(code)
	_, rest, ok := strings.Cut(log, deniedMarker)
	if !ok {
		return name
	}
	word, _, _ := strings.Cut(rest, ":")
	word = strings.TrimSpace(word)
	if word == "" || len(word) > 40 {
		if f := strings.Fields(rest); len(f) > 0 && len(f[0]) <= 40 {
			if w := strings.TrimSuffix(f[0], ":"); w != "" {
				return w
			}
		}
		return name
	}
	return word
}

// Final reads the sections from the replayed state.
func (b *reportBuilder) Final(st *FinalState) error {
	o := b.opts
	r := &Report{Height: st.Height, Patient: o.Patient, Since: o.Since,
		Accesses: []Access{}, Refusals: []Refusal{}, BreakGlass: []BreakGlass{}, Queries: []QueryEntry{},
		Budgets: []BudgetEntry{}, Governance: []Proposal{}, Checks: []string{}}
	b.report = r
	patients := map[string]string{} // record id → pseudonym
	patientOf := func(rid string) (string, error) {
		if p, ok := patients[rid]; ok {
			return p, nil
		}
		id, err := records.ParseID("record", rid)
		if err != nil {
			return "", nil
		}
		rec, err := records.GetRecord(st, id)
		if err != nil {
			return "", err
		}
		p := ""
		if rec != nil {
			p = rec.Pseudonym
		}
		patients[rid] = p
		return p, nil
	}
	entries, closed := 0, 0
	err := eachID(st, records.AccessKey(0)[0], func(id uint64) error {
		e, err := records.GetAccess(st, id)
		if err != nil || e == nil {
			return err
		}
		entries++
		if e.BreakGlass && e.Review != nil && !e.Review.Open {
			closed++
		}
		pid, err := patientOf(e.RecordId)
		if err != nil {
			return err
		}
		if o.Patient != "" && pid != o.Patient {
			return nil
		}
		if (o.all() || o.Accesses) && e.Height >= o.Since {
			r.Accesses = append(r.Accesses, Access{Entry: e.Id, Height: e.Height, Doctor: e.Doctor, DoctorHospital: e.DoctorHospital,
				Record: e.RecordId, Patient: pid, Custodian: e.Custodian, Grant: grantOf(e.Grant, e.BreakGlass), Purpose: purposeName(e.Purpose)})
		}
		if (o.all() || o.BreakGlass) && e.BreakGlass {
			bg := BreakGlass{Entry: e.Id, Height: e.Height, Doctor: e.Doctor, DoctorHospital: e.DoctorHospital, Record: e.RecordId,
				Patient: pid, Custodian: e.Custodian, Reason: e.Reason, Review: "open"}
			if rv := e.Review; rv != nil && !rv.Open {
				bg.Review, bg.Finding, bg.Reviewer, bg.ReviewHeight, bg.Note = "closed", findingName(rv.Finding), rv.Reviewer, rv.Height, rv.Note
			}
			if bg.Height >= o.Since || bg.ReviewHeight >= o.Since {
				r.BreakGlass = append(r.BreakGlass, bg)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("the replayed access entries: %w", err)
	}
	if entries != b.accessedEvents {
		r.Checks = append(r.Checks, fmt.Sprintf("the replay emitted %d %s events, its state holds %d access entries", b.accessedEvents, records.EventAccessed, entries))
	}
	if closed != b.reviewedEvents {
		r.Checks = append(r.Checks, fmt.Sprintf("the replay emitted %d %s events, its state holds %d closed reviews", b.reviewedEvents, records.EventReviewed, closed))
	}
	if o.all() || o.Accesses {
		for _, f := range b.refusals {
			if f.Record != "" {
				if f.Patient, err = patientOf(f.Record); err != nil {
					return err
				}
			}
			if f.Height < o.Since || (o.Patient != "" && f.Patient != o.Patient) {
				continue
			}
			r.Refusals = append(r.Refusals, f)
		}
	}
	if o.Queries || (o.all() && o.Patient == "") {
		if err := b.queries(st, r); err != nil {
			return fmt.Errorf("the replayed research queries: %w", err)
		}
	}
	if o.Governance || (o.all() && o.Patient == "") {
		if err := b.governance(st, r); err != nil {
			return fmt.Errorf("the replayed proposals: %w", err)
		}
	}
	r.Sections = o.sectionNames()
	b.summarise(r)
	return nil
}

func (b *reportBuilder) queries(st *FinalState, r *Report) error {
	since := b.opts.Since
	err := eachID(st, research.QueryKey(0)[0], func(id uint64) error {
		q, err := research.GetQuery(st, id)
		if err != nil || q == nil {
			return err
		}
		if q.Height < since && q.StatusHeight < since {
			return nil
		}
		e := QueryEntry{ID: q.Id, Researcher: q.Researcher, Height: q.Height, Text: query.Format(q.Query),
			Statistics: []string{}, Status: queryStatus(q.Status), StatusHeight: q.StatusHeight, Gate: gateOf(q),
			RhoMicro: q.RhoMicro, Contributors: append([]uint64{}, q.Contributors...), Reason: q.Reason, DPOff: q.DpOff, Plaintext: q.Plaintext}
		for _, s := range q.GetQuery().GetStatistics() {
			e.Statistics = append(e.Statistics, query.FormatStatistic(s))
		}
		if e.Gate == "passed" || e.Gate == "refused" {
			n := q.NoisedCount
			e.NoisedCount = &n
		}
		r.Queries = append(r.Queries, e)
		return nil
	})
	if err != nil {
		return err
	}
	start := research.BudgetKey([20]byte{})[:1]
	it, err := st.Iterator(start, []byte{start[0] + 1}, true)
	if err != nil {
		return err
	}
	defer it.Close()
	for ; it.Valid(); it.Next() {
		var bu pb.Budget
		if _, err := contracts.GetRecord(st, it.Key(), &bu); err != nil {
			return err
		}
		r.Budgets = append(r.Budgets, BudgetEntry{Researcher: bu.Researcher, GrantedMicro: bu.GrantedMicro, SpentMicro: bu.SpentMicro})
	}
	return it.Error()
}

func (b *reportBuilder) governance(st *FinalState, r *Report) error {
	since := b.opts.Since
	return eachID(st, governance.ProposalKey(0)[0], func(id uint64) error {
		p, err := governance.GetProposal(st, id)
		if err != nil || p == nil {
			return err
		}
		votes := b.votes[p.Id]
		if p.Height < since && p.StatusHeight < since && !slices.ContainsFunc(votes, func(v Vote) bool { return v.Height >= since }) {
			return nil
		}
		r.Governance = append(r.Governance, Proposal{ID: p.Id, Action: governance.ActionOf(p.Propose), Detail: actionDetail(p.Propose),
			Proposer: p.Proposer, Height: p.Height, Deadline: p.DeadlineHeight,
			Electorate: nonNil(p.Electorate), Yes: nonNil(p.Yes), No: nonNil(p.No), Votes: append([]Vote{}, votes...),
			Outcome: proposalStatus(p.Status), StatusHeight: p.StatusHeight, Result: p.Outcome, KeyEpoch: p.KeyEpoch})
		return nil
	})
}

func (b *reportBuilder) summarise(r *Report) {
	s := &r.Summary
	s.Accesses = len(r.Accesses)
	for _, a := range r.Accesses {
		if a.Grant == "emergency" {
			s.Emergency++
		} else {
			s.UnderGrant++
		}
	}
	s.Refusals = len(r.Refusals)
	for _, f := range r.Refusals {
		if f.CodeName == "denied" {
			s.Denied++
		}
	}
	for _, bg := range r.BreakGlass {
		if bg.Review == "open" {
			s.OpenReviews++
		} else {
			s.ClosedReviews++
		}
	}
	s.Queries = len(r.Queries)
	for _, q := range r.Queries {
		s.BudgetRhoMicro += int64(q.RhoMicro)
	}
	s.Proposals = len(r.Governance)
	for _, p := range r.Governance {
		if p.Outcome == "executed" {
			s.ProposalsPassed++
		}
	}
}

// eachID calls fn with the id of every key prefix‖id(8) of state, in
// ascending order: the records of one kind (access entries, queries,
// proposals).
func eachID(st contracts.Reader, prefix byte, fn func(id uint64) error) error {
	it, err := st.Iterator([]byte{prefix}, []byte{prefix + 1}, true)
	if err != nil {
		return err
	}
	var ids []uint64
	for ; it.Valid(); it.Next() {
		if k := it.Key(); len(k) == 9 {
			ids = append(ids, binary.BigEndian.Uint64(k[1:]))
		}
	}
	err = it.Error()
	if cerr := it.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := fn(id); err != nil {
			return err
		}
	}
	return nil
}

func nonNil(s []string) []string { return append([]string{}, s...) }

func purposeName(p pb.Purpose) string {
	return strings.ToLower(strings.TrimPrefix(p.String(), "PURPOSE_"))
}

func findingName(f pb.Finding) string {
	return strings.ToLower(strings.TrimPrefix(f.String(), "FINDING_"))
}

func queryStatus(s pb.ResearchQuery_Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

func proposalStatus(s pb.Proposal_Status) string {
	return strings.ToLower(strings.TrimPrefix(s.String(), "STATUS_"))
}

// gateOf is the cohort gate's outcome for q.
func gateOf(q *pb.ResearchQuery) string {
	switch q.Status {
	case pb.ResearchQuery_STATUS_COLLECTING:
		return "not reached"
	case pb.ResearchQuery_STATUS_GATING:
		return "pending"
	case pb.ResearchQuery_STATUS_RELEASING, pb.ResearchQuery_STATUS_RELEASED:
		return "passed"
	case pb.ResearchQuery_STATUS_REFUSED:
		return "refused"
	case pb.ResearchQuery_STATUS_FAILED:
		if q.GateRequest != 0 && q.ReleaseRequest == 0 {
			return "failed"
		}
		if q.ReleaseRequest != 0 {
			return "passed"
		}
		return "not reached"
	}
	return "unknown"
}

// actionDetail is a short, identity-free description of a proposal's
// action: ids, roles, addresses and amounts, never keys.
func actionDetail(p *pb.Propose) string {
	switch a := p.GetAction().(type) {
	case *pb.Propose_AdmitHospital:
		return fmt.Sprintf("hospital %s, power %d", a.AdmitHospital.Id, a.AdmitHospital.Power)
	case *pb.Propose_RemoveHospital:
		return "hospital " + a.RemoveHospital.Id
	case *pb.Propose_RegisterAccount:
		pub := a.RegisterAccount.Pubkey
		addr := ""
		if len(pub) == 32 {
			addr = pb.AddressOf(pub)
		}
		return fmt.Sprintf("%s %s", strings.ToLower(strings.TrimPrefix(a.RegisterAccount.Role.String(), "ROLE_")), addr)
	case *pb.Propose_RetireAccount:
		return "account " + a.RetireAccount.Address
	case *pb.Propose_GrantBudget:
		return fmt.Sprintf("ρ %s to %s", query.FormatMicro(a.GrantBudget.RhoMicro), a.GrantBudget.Researcher)
	case *pb.Propose_SetParams:
		var set []string
		a.SetParams.ProtoReflect().Range(func(fd protoreflect.FieldDescriptor, v protoreflect.Value) bool {
			set = append(set, fmt.Sprintf("%s=%v", fd.Name(), v.Interface()))
			return true
		})
		return strings.Join(set, " ")
	}
	return ""
}
