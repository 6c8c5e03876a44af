package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/types"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/node/report"
)

// plantedName replaces the family name of hospital 0's first patient, so
// finding it in a report can only be a leak of an identity.
const plantedName = "Quixoteplantedaudit"

// TestAuditReportAndVerifyOnARealChain is issue 6's end-to-end test: a
// real 4-validator localnet tells the record story (grants, reads through
// the gateways, refusals, break-glass and its review, revocation,
// erasure), a governance vote and two research submissions (one refused
// for budget); the audit report, from a replay over RPC and from a stopped
// home, lists exactly those; no identity is in any of its forms; and
// `audit verify` proves real entries and refuses tampered evidence.
func TestAuditReportAndVerifyOnARealChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a 4-validator localnet")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	c := startCluster(t, ctx, localnet.Options{ChainID: "medchain-audit-report", Researcher: true})
	bin := testenv.MedchainBinary(t)
	var names []string
	story, err := localnet.RecordStory(ctx, c, localnet.StoryOptions{
		Bin: bin, Patients: 6,
		Prepare: func(dir string) (err error) {
			names, err = plantName(filepath.Join(dir, "hospital0", "patients.ndjson"))
			return err
		},
		Say: func(format string, a ...any) { t.Logf(format, a...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	gov := governanceVote(t, ctx, c)
	queryID, budgetRefusalHeight := researchSubmissions(t, ctx, c)

	rpcURL := c.Manifest.Nodes[0].RPC
	src, err := DialRPC(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	full, rep, err := BuildReport(ctx, src, Options{}, ReportOptions{})
	if err != nil {
		t.Fatalf("report: %v", err)
	}
	if rep.Failure != nil {
		t.Fatalf("replay %+v", rep)
	}
	op0 := c.Manifest.Nodes[0].OperatorAddress

	t.Run("the report lists exactly the story's accesses, with pseudonyms and grants", func(t *testing.T) {
		var ids []uint64
		for _, a := range full.Accesses {
			ids = append(ids, a.Entry)
			if a.Patient != story.Patient || a.Record == "" || a.Custodian != c.Manifest.Nodes[0].HospitalID {
				t.Errorf("access %+v: want patient %s at custodian %s", a, story.Patient, c.Manifest.Nodes[0].HospitalID)
			}
		}
		if !slices.Equal(ids, story.Accesses) {
			t.Fatalf("access entries %v, the story wrote %v", ids, story.Accesses)
		}
		grants := []string{full.Accesses[0].Grant, full.Accesses[1].Grant, full.Accesses[2].Grant}
		if grants[0] == "emergency" || grants[1] == "emergency" || grants[0] == grants[1] || grants[2] != "emergency" {
			t.Fatalf("grants %v: want A's grant, B's forward, then emergency", grants)
		}
		if full.Accesses[2].Purpose != "emergency" || full.Accesses[0].Purpose != "treatment" || full.Accesses[1].Purpose != "consultation" {
			t.Fatalf("purposes of %+v", full.Accesses)
		}
		if s := full.Summary; s.Accesses != 3 || s.UnderGrant != 2 || s.Emergency != 1 {
			t.Fatalf("summary %+v", s)
		}
		if len(full.Checks) != 0 {
			t.Fatalf("events disagree with state: %v", full.Checks)
		}
	})

	t.Run("the report lists every refused access attempt with its reason and the budget refusal", func(t *testing.T) {
		var access []Refusal
		var budget *Refusal
		for i, f := range full.Refusals {
			switch {
			case f.Type == "access.request":
				access = append(access, f)
			case f.Type == research.TypeSubmit && f.Height == budgetRefusalHeight:
				budget = &full.Refusals[i]
			}
		}
		want := []string{"not_grantee", "no_grant", "revoked"}
		if len(access) != len(story.Refusals) {
			t.Fatalf("%d access refusals, the story had %d: %+v", len(access), len(story.Refusals), access)
		}
		for i, f := range access {
			sr := story.Refusals[i]
			if f.Height != sr.Height || f.Code != 16 || f.CodeName != "denied" || f.Reason != want[i] || f.Patient != story.Patient || !strings.EqualFold(f.Hash, sr.Hash) {
				t.Errorf("refusal %d: %+v; the story saw height %d hash %s, want reason %s", i, f, sr.Height, sr.Hash, want[i])
			}
		}
		if budget == nil || budget.Reason != "privacy budget" || budget.Code != 16 {
			t.Fatalf("the budget refusal at height %d: %+v", budgetRefusalHeight, budget)
		}
	})

	t.Run("the break-glass entry shows its reason and the closed review", func(t *testing.T) {
		if len(full.BreakGlass) != 1 {
			t.Fatalf("break-glass %+v", full.BreakGlass)
		}
		bg := full.BreakGlass[0]
		if bg.Entry != story.Accesses[2] || bg.Reason != "unconscious on arrival, allergy history needed" || bg.Review != "closed" ||
			bg.Finding != "justified" || bg.Reviewer != op0 || bg.ReviewHeight <= bg.Height || bg.Note != "emergency admission confirmed" {
			t.Fatalf("break-glass %+v (reviewer should be %s)", bg, op0)
		}
		if full.Summary.ClosedReviews != 1 || full.Summary.OpenReviews != 0 {
			t.Fatalf("summary %+v", full.Summary)
		}
	})

	t.Run("the report lists the research query, its text and the budget spent", func(t *testing.T) {
		if len(full.Queries) != 1 || full.Queries[0].ID != queryID {
			t.Fatalf("queries %+v, want only %d", full.Queries, queryID)
		}
		q := full.Queries[0]
		if !strings.HasPrefix(q.Text, "SELECT count() WHERE sex = 'female' AS OF '") || q.RhoMicro != 1_000_000 ||
			!slices.Equal(q.Statistics, []string{"count()"}) || q.Researcher == "" || q.Status == "" || q.Gate == "" {
			t.Fatalf("query %+v", q)
		}
		if len(full.Budgets) != 1 || full.Budgets[0].SpentMicro != 1_000_000 || full.Budgets[0].GrantedMicro != 12_000_000 {
			t.Fatalf("budgets %+v: want 1 spent of 10 + 2 granted by the vote", full.Budgets)
		}
	})

	t.Run("the report lists the governance proposal, its votes and outcome", func(t *testing.T) {
		if len(full.Governance) != 1 {
			t.Fatalf("governance %+v", full.Governance)
		}
		p := full.Governance[0]
		if p.ID != gov.id || p.Action != governance.ActionGrantBudget || p.Proposer != op0 || p.Outcome != "executed" ||
			len(p.Yes) != 3 || len(p.No) != 0 || len(p.Votes) != 3 || p.Votes[0].Hospital != "h0" || p.Votes[1].Height != gov.voteHeights[0] || p.Votes[2].Height != gov.voteHeights[1] || !p.Votes[2].Yes ||
			!strings.Contains(p.Detail, "ρ 2 to ") {
			t.Fatalf("proposal %+v, want %+v", p, gov)
		}
	})

	t.Run("filters keep one patient's record sections, or what happened since a height", func(t *testing.T) {
		r, _, err := BuildReport(ctx, src, Options{}, ReportOptions{Patient: story.Patient})
		if err != nil {
			t.Fatal(err)
		}
		if len(r.Accesses) != 3 || len(r.BreakGlass) != 1 || len(r.Queries) != 0 || len(r.Governance) != 0 || slices.Contains(r.Sections, "queries") {
			t.Fatalf("patient report: %d accesses, %d break-glass, %d queries, %d proposals, sections %v", len(r.Accesses), len(r.BreakGlass), len(r.Queries), len(r.Governance), r.Sections)
		}
		for _, f := range r.Refusals {
			if f.Patient != story.Patient {
				t.Fatalf("refusal of another patient in a patient report: %+v", f)
			}
		}
		other := strings.Repeat("ab", 32)
		if r, _, err = BuildReport(ctx, src, Options{}, ReportOptions{Patient: other, Governance: true}); err != nil {
			t.Fatal(err)
		}
		if len(r.Accesses) != 0 || len(r.Governance) != 1 {
			t.Fatalf("another patient: %d accesses, governance %d", len(r.Accesses), len(r.Governance))
		}
		since := story.Refusals[2].Height
		if r, _, err = BuildReport(ctx, src, Options{}, ReportOptions{Since: since, Accesses: true}); err != nil {
			t.Fatal(err)
		}
		if len(r.Accesses) != 0 || len(r.BreakGlass) != 0 || len(r.Refusals) == 0 || r.Refusals[0].Height != since {
			t.Fatalf("since %d: %d accesses, %d break-glass, refusals %+v", since, len(r.Accesses), len(r.BreakGlass), r.Refusals)
		}
	})

	t.Run("no form of the report holds an identity of the imported cohort", func(t *testing.T) {
		var text, csvOut bytes.Buffer
		if err := full.WriteText(&text); err != nil {
			t.Fatal(err)
		}
		if err := full.WriteCSV(&csvOut); err != nil {
			t.Fatal(err)
		}
		js, err := json.Marshal(full)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), story.Patient) || !bytes.Contains(js, []byte(story.Patient)) || !strings.Contains(csvOut.String(), "access,"+strconv.FormatUint(story.Accesses[0], 10)+",") {
			t.Fatalf("the report does not name the story's patient by pseudonym:\n%s", text.String())
		}
		for _, out := range [][]byte{text.Bytes(), csvOut.Bytes(), js} {
			for _, n := range append(names, plantedName) {
				if bytes.Contains(bytes.ToLower(out), bytes.ToLower([]byte(n))) {
					t.Errorf("the report holds the identity string %q", n)
				}
			}
		}
		t.Logf("text report:\n%s", text.String())
	})

	t.Run("verify proves a real access entry and a grant over RPC", func(t *testing.T) {
		for _, e := range []Entry{{EntryAccess, story.Accesses[2]}, {EntryGrant, 1}, {EntryQuery, queryID}} {
			ev, doc, err := FetchEvidenceRPC(ctx, rpcURL, e, 0)
			if err != nil {
				t.Fatal(err)
			}
			v, err := ev.Verify(doc, time.Now())
			if err != nil {
				t.Fatalf("%s: %v", e, err)
			}
			if v.Signers*3 <= v.Validators*2 || v.Trust != "the genesis validators" || v.Record == nil {
				t.Fatalf("%s: %+v", e, v)
			}
			if a, ok := v.Record.(*pb.AccessEntry); ok && (!a.BreakGlass || a.Review.GetFinding() != pb.Finding_FINDING_JUSTIFIED) {
				t.Fatalf("the proved entry %v", a)
			}
		}
	})

	t.Run("verify refuses tampered evidence and proves an absence", func(t *testing.T) {
		fetch := func() (*Evidence, *types.GenesisDoc) {
			ev, doc, err := FetchEvidenceRPC(ctx, rpcURL, Entry{EntryAccess, story.Accesses[0]}, 0)
			if err != nil {
				t.Fatal(err)
			}
			return ev, doc
		}
		cases := []struct {
			name   string
			tamper func(ev *Evidence)
			says   string
		}{
			{"a value edited after the proof fails the proof", func(ev *Evidence) { ev.Value[len(ev.Value)-3] ^= 1 }, "does not verify"},
			{"a proof whose leaf is edited fails", func(ev *Evidence) { ev.Proof.GetExist().Leaf.Prefix[0] ^= 1 }, "does not verify"},
			{"a header with another app hash is not the signed one", func(ev *Evidence) { ev.Header.AppHash[0] ^= 1 }, "header"},
			{"evidence for another entry does not carry the asked one", func(ev *Evidence) { ev.Entry.ID = story.Accesses[1] }, "does not verify"},
			{"a commit with a forged signature is not signed by 2/3", func(ev *Evidence) {
				for i := range ev.Header.Commit.Signatures {
					if s := ev.Header.Commit.Signatures[i].Signature; len(s) > 0 {
						s[0] ^= 1
					}
				}
			}, "not signed by more than 2/3"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				ev, doc := fetch()
				tc.tamper(ev)
				_, err := ev.Verify(doc, time.Now())
				var ve *VerifyError
				if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.says) {
					t.Fatalf("got %v, want a VerifyError saying %q", err, tc.says)
				}
			})
		}
		ev, doc, err := FetchEvidenceRPC(ctx, rpcURL, Entry{EntryAccess, 999}, 0)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ev.Verify(doc, time.Now()); !errors.Is(err, ErrAbsent) {
			t.Fatalf("access 999: got %v, want its absence proved", err)
		}
	})

	if err := c.StopAll(); err != nil {
		t.Fatal(err)
	}
	home := c.Manifest.Nodes[1].Home

	t.Run("a stopped home gives the same report, and verify proves from its replay", func(t *testing.T) {
		h, err := OpenHome(home)
		if err != nil {
			t.Fatal(err)
		}
		defer h.Close()
		r, _, err := BuildReport(ctx, h, Options{To: full.Height}, ReportOptions{})
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(struct{ A, B, R, Q, G any }{r.Accesses, r.BreakGlass, r.Refusals, r.Queries, r.Governance})
		b, _ := json.Marshal(struct{ A, B, R, Q, G any }{full.Accesses, full.BreakGlass, full.Refusals, full.Queries, full.Governance})
		if !bytes.Equal(a, b) || r.AppHash != full.AppHash {
			t.Fatalf("the home's report differs from the RPC's:\n%s\n%s", a, b)
		}
		ev, doc, err := FetchEvidenceHome(ctx, h, Entry{EntryAccess, story.Accesses[2]}, full.Height, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if v, err := ev.Verify(doc, time.Now()); err != nil || v.Trust != "the genesis validators" {
			t.Fatalf("%+v, %v", v, err)
		}
		// Height 0: the home's last block is header H+1, whose commit is
		// the block store's seen commit.
		ev, doc, err = FetchEvidenceHome(ctx, h, Entry{EntryGrant, 2}, 0, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, last, _ := h.Heights(ctx); ev.Height != last-1 {
			t.Fatalf("height 0 proved at %d, want the last block %d minus one", ev.Height, last)
		}
		if v, err := ev.Verify(doc, time.Now()); err != nil || v.Record.(*pb.Grant).Parent != 1 {
			t.Fatalf("grant 2 (A's forward of grant 1): %+v, %v", v, err)
		}
	})

	t.Run("the commands report and verify from a home, and refuse a bad entry", func(t *testing.T) {
		run := func(args ...string) (string, int) {
			cmd := exec.CommandContext(ctx, bin, args...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			err := cmd.Run()
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				return out.String(), ee.ExitCode()
			}
			if err != nil {
				t.Fatal(err)
			}
			return out.String(), 0
		}
		out, code := run("audit", "report", "--home", home, "--quiet", "-o", "csv", "--breakglass")
		if code != 0 || !strings.Contains(out, "break_glass,"+strconv.FormatUint(story.Accesses[2], 10)+",") || strings.Contains(out, "access,") {
			t.Fatalf("report exit %d:\n%s", code, out)
		}
		h := strconv.FormatInt(full.Height-1, 10)
		out, code = run("audit", "verify", "--home", home, "--quiet", "--entry", "access:"+strconv.FormatUint(story.Accesses[0], 10), "--height", h)
		if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "verified") {
			t.Fatalf("verify exit %d:\n%s", code, out)
		}
		out, code = run("audit", "verify", "--home", home, "--entry", "record:1", "--height", h)
		if code != 1 || !strings.Contains(out, "is not access, grant or query") {
			t.Fatalf("verify of a bad entry: exit %d:\n%s", code, out)
		}
	})
}

// plantName gives hospital 0's first patient a distinctive family name
// and returns the export's names, which no report may hold.
func plantName(path string) ([]string, error) {
	set, err := fhir.ReadFile(path, fhir.Limits{})
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	old := `"family":"` + set.Patients[0].Name[0].Family + `"`
	if !bytes.Contains(raw, []byte(old)) {
		return nil, errors.New("plant: the first patient's family name is not in the file")
	}
	raw = bytes.Replace(raw, []byte(old), []byte(`"family":"`+plantedName+`"`), 1)
	var names []string
	for _, p := range set.Patients {
		for _, n := range p.Name {
			if len(n.Family) >= 6 {
				names = append(names, n.Family)
			}
		}
	}
	return names, os.WriteFile(path, raw, 0o600)
}

type govResult struct {
	id          uint64
	voteHeights []int64
}

func operator(t *testing.T, c *localnet.Cluster, i int) (ed25519.PrivateKey, *client.Client) {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[i].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		t.Fatal(err)
	}
	cl, err := c.Client(i)
	if err != nil {
		t.Fatal(err)
	}
	return op, cl
}

func send(t *testing.T, ctx context.Context, cl *client.Client, priv ed25519.PrivateKey, typ string, m proto.Message) *client.Result {
	t.Helper()
	r, err := cl.Send(ctx, priv, typ, m, 60*time.Second)
	if err != nil {
		t.Fatalf("%s: %v", typ, err)
	}
	return r
}

// governanceVote has hospital 0 propose 2 more ρ for the researcher and
// hospitals 1 and 2 vote yes: 3 of 4, it passes.
func governanceVote(t *testing.T, ctx context.Context, c *localnet.Cluster) govResult {
	t.Helper()
	researcher := researcherKey(t, c)
	op0, cl0 := operator(t, c, 0)
	r := send(t, ctx, cl0, op0, governance.TypePropose, &pb.Propose{Action: &pb.Propose_GrantBudget{GrantBudget: &pb.GrantBudget{
		Researcher: pb.AddressOf(researcher.Public().(ed25519.PublicKey)), RhoMicro: 2_000_000}}, Reason: "audit test"})
	if r.Code != 0 {
		t.Fatalf("propose: code %d %s", r.Code, r.Log)
	}
	var g govResult
	for _, e := range r.Events {
		if e.Type == governance.EventProposed {
			g.id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	for i := 1; i <= 2; i++ {
		op, cl := operator(t, c, i)
		r := send(t, ctx, cl, op, governance.TypeVote, &pb.Vote{Proposal: g.id, Yes: true})
		if r.Code != 0 {
			t.Fatalf("vote %d: code %d %s", i, r.Code, r.Log)
		}
		g.voteHeights = append(g.voteHeights, r.Height)
	}
	return g
}

func researcherKey(t *testing.T, c *localnet.Cluster) ed25519.PrivateKey {
	t.Helper()
	kr, err := keyring.Open(node.KeyringDir(c.Manifest.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	k, err := kr.Signer(localnet.ResearcherKeyName)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// researchSubmissions submits a query spending ρ = 1, then one asking for
// more budget than is left, which the chain denies in a block.
func researchSubmissions(t *testing.T, ctx context.Context, c *localnet.Cluster) (id uint64, refusedAt int64) {
	t.Helper()
	_, cl := operator(t, c, 0)
	researcher := researcherKey(t, c)
	res, err := cl.Query(ctx, "/params", 0, false)
	if err != nil {
		t.Fatal(err)
	}
	var ap pb.Params
	if err := tx.Unmarshal(res.Value, &ap); err != nil {
		t.Fatal(err)
	}
	p, _, err := report.Alliance(&ap)
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := p.GenResearcherKey()
	if err != nil {
		t.Fatal(err)
	}
	q, err := query.Parse("SELECT count() WHERE sex = 'female'")
	if err != nil {
		t.Fatal(err)
	}
	r := send(t, ctx, cl, researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q, ResearcherKey: pub, RhoMicro: 1_000_000})
	if r.Code != 0 {
		t.Fatalf("submit: code %d %s", r.Code, r.Log)
	}
	for _, e := range r.Events {
		if e.Type == research.EventSubmitted {
			id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
		}
	}
	r = send(t, ctx, cl, researcher, research.TypeSubmit, &pb.SubmitQuery{Query: q, ResearcherKey: pub, RhoMicro: 50_000_000})
	if r.Code != 16 {
		t.Fatalf("an over-budget submission: code %d %s, want 16 denied in a block", r.Code, r.Log)
	}
	return id, r.Height
}
