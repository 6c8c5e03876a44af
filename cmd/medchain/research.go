package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/he"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/dp"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/report"
)

// dpNoiseSigma returns, for a released result, the standard deviation of
// the differential-privacy noise in each figure's alliance total
// (node/dp's description): members and threshold are the query's key
// epoch's, which fix how many noise shares the hospitals calibrated for.
func dpNoiseSigma(members, threshold int) report.NoiseSigma {
	return func(rq *pb.ResearchQuery, plan *query.Plan) ([][]float64, error) {
		rho := rq.RhoMicro
		if rq.DpOff {
			rho = 0
		}
		d, err := dp.Describe(plan, rho, dp.Shares(members, threshold), len(rq.Contributors))
		if err != nil {
			return nil, err
		}
		out := make([][]float64, len(plan.Blocks))
		k := 0
		for i, b := range plan.Blocks {
			for range b.Figures {
				out[i] = append(out[i], d.Figures[k].StdDev)
				k++
			}
		}
		return out, nil
	}
}

const researchLong = `Encrypted aggregate queries over every member hospital's consenting patients.

A researcher makes an HE key pair once (research keygen), submits a query
with the privacy budget it spends (research submit), follows it (research
status, list, budget) and, once the alliance has released it, decrypts the
result locally (research result). No hospital, validator or auditor sees
the figures.

Query language (one line):

  SELECT stat {, stat} [WHERE filter] [AS OF 'YYYY-MM-DD']

  stat   count() | sum(f) | mean(f) | variance(f) | stddev(f)
         | histogram(f; e0, e1, ...) | survival(CODE; bin_days, horizon_days)
         | linreg(y ~ x1 + x2 ...)
  filter condition = 'E11' | sex = 'female' | encounter = 'IMP'
         | seen BETWEEN 'YYYY-MM-DD' AND 'YYYY-MM-DD' | f op number
         joined with AND, OR, NOT and parentheses    (op: < <= > >= = !=)
  f      age (years) | hba1c (%) | bmi (kg/m2) | sbp (mmHg)

Example:

  medchain research submit "SELECT count(), mean(hba1c), histogram(age; 0, 18, 40, 65, 80, 120)
      WHERE condition = 'E11' AND age >= 50 AND sex = 'female'" --epsilon 0.5 --from alice --he-key alice`

func newResearchCmd() *cobra.Command {
	rc := &cobra.Command{Use: "research", Short: "Encrypted research queries: HE key, submit, status, list, budget, result", Long: researchLong}
	rc.AddCommand(newResearchKeygenCmd(), newResearchSubmitCmd(), newResearchStatusCmd(), newResearchListCmd(),
		newResearchBudgetCmd(), newResearchResultCmd())
	return rc
}

// heKeyName is what --name and --he-key accept: a keyring name that
// leaves room for the ".he" suffix of the sealed data.
var heKeyName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,60}$`)

func checkHEKeyName(flag, name string) error {
	if !heKeyName.MatchString(name) {
		return fmt.Errorf("%s %.70q: use 1 to 61 lowercase letters, digits, '.', '_' or '-', starting with a letter or digit", flag, name)
	}
	return nil
}

func newResearchKeygenCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "keygen --name NAME [--node URL] [--out FILE]",
		Short: "Create a researcher HE key pair, sealed in the keyring (results are switched to its public key)",
		Long: `Create a researcher HE key pair. Query results are switched to its public key;
only its secret key decrypts them.

The pair is sealed in <home>/keyring as NAME.he, encrypted with the keyring
passphrase (file mode 0600); no key is ever written in clear. Use it with
--he-key NAME in research submit and research result.

The key is made for the default HE parameters (those of every alliance made
by medchain init or medchain localnet); with --node, for that chain's.

--out FILE also writes the PUBLIC key (raw bytes), for whoever wants to check
the researcher_key_hash of your queries. Earlier versions wrote the whole
pair in clear to --out; they no longer do.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			name, _ := cmd.Flags().GetString("name")
			out, _ := cmd.Flags().GetString("out")
			if name == "" {
				return errors.New("--name is required: the key pair is sealed in the keyring under that name (research keygen no longer writes a key file; --out writes the public key only)")
			}
			if err := checkHEKeyName("--name", name); err != nil {
				return err
			}
			if out != "" {
				if _, err := os.Lstat(out); err == nil {
					return fmt.Errorf("--out %s exists; refusing to overwrite it", out)
				}
			}
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			if ok, err := kr.HasData(report.KeyDataName(name)); err != nil {
				return err
			} else if ok {
				return fmt.Errorf("a researcher HE key %q already exists in %s; pick another --name", name, filepath.Join(homeOf(cmd), "keyring"))
			}
			lit := he.DefaultLiteral()
			if cmd.Flags().Changed("node") {
				ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
				defer cancel()
				c, err := dial(cmd)
				if err != nil {
					return err
				}
				ap, err := researchParams(ctx, c)
				if err != nil {
					return err
				}
				if lit, err = report.HELiteral(ap); err != nil {
					return err
				}
			}
			p, err := he.NewParams(lit)
			if err != nil {
				return err
			}
			k, err := report.NewResearcherKey(p)
			if err != nil {
				return err
			}
			defer k.Clear()
			raw, err := k.Encode()
			if err != nil {
				return err
			}
			err = kr.SealData(report.KeyDataName(name), raw)
			clear(raw)
			if err != nil {
				return err
			}
			if out != "" {
				if err := writeNewResearchFile(out, k.Public, 0o644); err != nil {
					return fmt.Errorf("the key is stored in the keyring, but the public key file was not written: %w", err)
				}
			}
			hash := k.PublicHash()
			view := map[string]any{"name": name, "keyring_data": report.KeyDataName(name), "public_key_sha256": hex.EncodeToString(hash[:]),
				"public_key_bytes": len(k.Public), "log_n": lit.LogN, "public_key_file": out}
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "sealed researcher HE key %q in the keyring (%s, passphrase-encrypted)\npublic key sha256 %x (%d bytes, LogN %d)\n",
					name, report.KeyDataName(name), hash, len(k.Public), lit.LogN)
				if out != "" {
					fmt.Fprintf(w, "wrote the public key to %s\n", out)
				}
			})
		},
	}
	cmd.Flags().String("name", "", "name of the key pair in the keyring")
	cmd.Flags().String("out", "", "also write the PUBLIC key to this file (never the secret)")
	addKeyringFlags(cmd)
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}

// checkResearchOutput refuses a bad -o before anything is sent or decrypted.
func checkResearchOutput(cmd *cobra.Command) error {
	if o, _ := cmd.Flags().GetString("output"); o != "text" && o != "json" && o != "" {
		return fmt.Errorf("--output %q: use text or json", o)
	}
	return nil
}

// writeNewResearchFile writes data to a file that must not exist.
func writeNewResearchFile(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	return f.Close()
}

// researchSpend is what --rho / --epsilon / --delta ask for.
type researchSpend struct {
	set        bool
	micro      uint64
	eps, delta float64 // eps 0: given as ρ
}

func readResearchSpend(cmd *cobra.Command) (researchSpend, error) {
	fl := cmd.Flags()
	rhoSet, epsSet, deltaSet := fl.Changed("rho"), fl.Changed("epsilon"), fl.Changed("delta")
	delta, _ := fl.GetFloat64("delta")
	s := researchSpend{delta: delta}
	switch {
	case rhoSet && epsSet:
		return s, errors.New("give --rho or --epsilon, not both")
	case deltaSet && !epsSet:
		return s, errors.New("--delta goes with --epsilon (a --rho spend needs no δ)")
	case rhoSet:
		r, _ := fl.GetString("rho")
		m, err := report.ParseRho(r)
		if err != nil {
			return s, fmt.Errorf("--rho: %w", err)
		}
		s.set, s.micro = true, m
	case epsSet:
		eps, _ := fl.GetFloat64("epsilon")
		rho, err := report.RhoFromEpsilon(eps, delta)
		if err != nil {
			return s, fmt.Errorf("--epsilon/--delta: %w", err)
		}
		m, err := report.MicroFromRho(rho)
		if err != nil {
			return s, fmt.Errorf("--epsilon: %w", err)
		}
		s.set, s.micro, s.eps = true, m, eps
	}
	return s, nil
}

func newResearchSubmitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   `submit "SELECT ..." --from KEY (--he-key NAME | --plaintext-baseline) (--rho R | --epsilon E [--delta D])`,
		Short: "Submit a research query with the privacy budget it spends",
		Long: `Submit a research query (see medchain research --help for the language).

The query spends ρ of your zCDP privacy budget: give it with --rho, or as an
(ε, δ) guarantee with --epsilon (δ defaults to 1e-6): ρ = (√(L+ε) − √L)²,
L = ln(1/δ), the largest ρ with ε = ρ + 2√(ρ·L). ρ is spent in millionths,
rounded down. An alliance in test mode (dp_off) takes no spend.

The query text is checked before anything is sent; a query the chain refuses
exits with code 3. With the file keyring, the passphrase is asked twice: for
the HE key, then for the signing key.

--plaintext-baseline (benchmark alliances only: research.plaintext_baseline
and dp_off) asks the same query without encryption, so its cost can be
measured: the hospitals post plaintext figures, the chain sums them and
releases them in plain, readable by anyone. It takes no --he-key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := checkResearchOutput(cmd); err != nil {
				return err
			}
			q, err := query.Parse(args[0])
			if err != nil {
				return err
			}
			sp, err := readResearchSpend(cmd)
			if err != nil {
				return err
			}
			from, _ := cmd.Flags().GetString("from")
			heName, _ := cmd.Flags().GetString("he-key")
			plaintext, _ := cmd.Flags().GetBool("plaintext-baseline")
			switch {
			case plaintext && heName != "":
				return errors.New("--plaintext-baseline takes no --he-key: the result is released in plain on chain, not switched to a key")
			case !plaintext && heName == "":
				return errors.New("--he-key is required: the result is switched to your researcher HE key (`medchain research keygen --name NAME`); a benchmark alliance also takes --plaintext-baseline")
			case !plaintext:
				if err := checkHEKeyName("--he-key", heName); err != nil {
					return err
				}
			}
			timeout, _ := cmd.Flags().GetDuration("timeout")
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			who, err := kr.Show(from)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), timeout+30*time.Second)
			defer cancel()
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			ap, err := researchParams(ctx, c)
			if err != nil {
				return err
			}
			hp, lim, err := report.Alliance(ap)
			if err != nil {
				return err
			}
			if err := query.Validate(q, lim); err != nil {
				return fmt.Errorf("this alliance cannot answer the query: %w", err)
			}
			if plaintext && (!ap.Research.PlaintextBaseline || !ap.Research.DpOff) {
				return errors.New("--plaintext-baseline: this alliance takes no plaintext-baseline query (research.plaintext_baseline and dp_off are for benchmark alliances only); submit it encrypted with --he-key")
			}
			switch {
			case ap.Research.DpOff && sp.micro > 0:
				return errors.New("this alliance runs without differential privacy (test mode): a query spends nothing; drop --rho/--epsilon")
			case !ap.Research.DpOff && !sp.set:
				return errors.New("--rho or --epsilon is required: every query spends privacy budget (see `medchain research budget`)")
			case !ap.Research.DpOff && sp.micro == 0:
				return fmt.Errorf("the spend rounds down to ρ = 0 millionths; a query must spend at least ρ = 0.000001 (ask for a larger --rho or --epsilon)")
			}
			b, err := researcherBudget(ctx, c, ap, who.Address)
			if err != nil {
				return err
			}
			if left := researchBudgetLeft(b); sp.micro > left {
				return fmt.Errorf("privacy budget: this query asks ρ = %s, %s of %s is left; ask for less, or ask the alliance for more budget",
					report.FormatMicro(sp.micro), report.FormatMicro(left), report.FormatMicro(b.GrantedMicro))
			}
			var pub []byte
			if !plaintext {
				if pub, err = researcherPublicKey(kr, heName, hp); err != nil {
					return err
				}
			}
			priv, err := kr.Signer(from)
			if err != nil {
				return err
			}
			defer clear(priv)
			res, err := c.Send(ctx, priv, research.TypeSubmit, &pb.SubmitQuery{Query: q, ResearcherKey: pub, RhoMicro: sp.micro, Plaintext: plaintext}, timeout)
			if err != nil {
				return err
			}
			if res.Code != 0 {
				return &client.CodeError{Code: res.Code, Codespace: "medchain", Log: res.Log, Stage: "deliver"}
			}
			var id uint64
			var deadline string
			for _, e := range res.Events {
				if e.Type == research.EventSubmitted {
					id, _ = strconv.ParseUint(e.Attrs["id"], 10, 64)
					deadline = e.Attrs["deadline_height"]
				}
			}
			if id == 0 {
				return fmt.Errorf("tx %s committed at height %d without a %s event; look for your query with `medchain research list --from %s`",
					res.Hash, res.Height, research.EventSubmitted, from)
			}
			text := query.Format(q)
			var rq pb.ResearchQuery
			if ok, err := readResearchRecord(ctx, c, fmt.Sprintf("/research/query/%d", id), &rq); err == nil && ok {
				text = query.Format(rq.Query) // with the AS OF date the contract fixed
			}
			view := map[string]any{"id": id, "query": text, "rho_micro": sp.micro, "rho": report.FormatMicro(sp.micro),
				"deadline_height": deadline, "hash": res.Hash.String(), "height": res.Height, "plaintext": plaintext}
			guarantee := ""
			if sp.micro > 0 {
				d := sp.delta
				view["delta"], view["epsilon"] = d, report.Epsilon(sp.micro, d)
				guarantee = fmt.Sprintf(" (ε = %.6g at δ = %g)", report.Epsilon(sp.micro, d), d)
			}
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "submitted research query %d at height %d (tx %s)\n  %s\n  spends ρ = %s%s\n  contributions until height %s; follow it with `medchain research status %d`\n",
					id, res.Height, res.Hash, text, report.FormatMicro(sp.micro), guarantee, deadline, id)
				if plaintext {
					fmt.Fprintln(w, "  plaintext baseline: the hospitals answer in plain and the chain releases the sums in plain, readable by anyone")
				}
			})
		},
	}
	cmd.Flags().String("from", "", "name of the researcher's signing key in the keyring")
	cmd.Flags().String("he-key", "", "name of the researcher HE key (research keygen --name)")
	cmd.Flags().Bool("plaintext-baseline", false, "benchmark alliances only: ask without encryption (no --he-key; the result is public)")
	cmd.Flags().String("rho", "", "zCDP budget this query spends, e.g. 0.5")
	cmd.Flags().Float64("epsilon", 0, "spend as an (ε, δ)-DP guarantee instead of --rho")
	cmd.Flags().Float64("delta", report.DefaultDelta, "δ of --epsilon")
	cmd.Flags().Duration("timeout", 30*time.Second, "how long to wait for the commit")
	_ = cmd.MarkFlagRequired("from")
	addKeyringFlags(cmd)
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}

// openResearcherKey unseals the researcher HE key called name and checks
// it against the alliance's HE parameters. The caller clears it.
func openResearcherKey(kr *keyring.Keyring, name string, hp *he.Params) (*report.ResearcherKey, error) {
	raw, err := kr.OpenData(report.KeyDataName(name))
	if errors.Is(err, keyring.ErrDataNotFound) {
		return nil, fmt.Errorf("no researcher HE key %q in this keyring: make one with `medchain research keygen --name %s`", name, name)
	}
	if err != nil {
		return nil, err
	}
	k, err := report.DecodeResearcherKey(raw)
	clear(raw)
	if err != nil {
		return nil, fmt.Errorf("researcher HE key %q: %w", name, err)
	}
	if err := k.Check(hp); err != nil {
		k.Clear()
		return nil, fmt.Errorf("researcher HE key %q: %w", name, err)
	}
	return k, nil
}

func researcherPublicKey(kr *keyring.Keyring, name string, hp *he.Params) ([]byte, error) {
	k, err := openResearcherKey(kr, name, hp)
	if err != nil {
		return nil, err
	}
	k.Clear()
	return k.Public, nil
}

// readResearchRecord reads one chain record; false if there is none.
func readResearchRecord(ctx context.Context, c *client.Client, path string, m proto.Message) (bool, error) {
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

// researchParams reads "/params" and requires a research section.
func researchParams(ctx context.Context, c *client.Client) (*pb.Params, error) {
	var ap pb.Params
	ok, err := readResearchRecord(ctx, c, "/params", &ap)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errors.New("the node has no alliance parameters (/params); is it a medchain node?")
	}
	if ap.Research == nil || ap.He == nil {
		return nil, report.ErrNoResearch
	}
	return &ap, nil
}

// researcherBudget reads addr's ledger; one who never spent has the
// alliance's budget and nothing spent (as research.GetBudget).
func researcherBudget(ctx context.Context, c *client.Client, ap *pb.Params, addr string) (*pb.Budget, error) {
	var b pb.Budget
	ok, err := readResearchRecord(ctx, c, "/research/budget/"+addr, &b)
	if err != nil {
		return nil, err
	}
	if !ok {
		return &pb.Budget{Researcher: addr, GrantedMicro: ap.Research.BudgetMicro}, nil
	}
	return &b, nil
}

func researchBudgetLeft(b *pb.Budget) uint64 {
	return b.GrantedMicro - min(b.SpentMicro, b.GrantedMicro)
}

// researchHospitalIDs maps member indexes to hospital ids ("/hospitals").
func researchHospitalIDs(ctx context.Context, c *client.Client) (map[uint64]string, error) {
	var hl pb.HospitalList
	if _, err := readResearchRecord(ctx, c, "/hospitals", &hl); err != nil {
		return nil, err
	}
	ids := map[uint64]string{}
	for _, h := range hl.Hospitals {
		ids[h.MemberIndex] = h.Id
	}
	return ids, nil
}

func parseResearchID(s string) (uint64, error) {
	id, err := strconv.ParseUint(s, 10, 64)
	if err != nil || id == 0 {
		return 0, fmt.Errorf("query id %.30q: want a number such as 7 (`medchain research list` shows yours)", s)
	}
	return id, nil
}

// researchQuery reads query id, or says it does not exist.
func researchQuery(ctx context.Context, c *client.Client, id uint64) (*pb.ResearchQuery, error) {
	var rq pb.ResearchQuery
	ok, err := readResearchRecord(ctx, c, fmt.Sprintf("/research/query/%d", id), &rq)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("no research query %d on this chain (`medchain research list` shows yours)", id)
	}
	return &rq, nil
}

func researchStatusName(s pb.ResearchQuery_Status) string {
	return strings.TrimPrefix(s.String(), "STATUS_")
}

var researchStatusMeaning = map[pb.ResearchQuery_Status]string{
	pb.ResearchQuery_STATUS_COLLECTING: "waiting for the member hospitals' contributions",
	pb.ResearchQuery_STATUS_GATING:     "the members are decrypting the noised cohort count in public",
	pb.ResearchQuery_STATUS_RELEASING:  "the members are switching the result to your HE key",
	pb.ResearchQuery_STATUS_RELEASED:   "the result is yours to decrypt: medchain research result",
	pb.ResearchQuery_STATUS_REFUSED:    "refused by the privacy rules",
	pb.ResearchQuery_STATUS_FAILED:     "failed",
}

func researchContributorNames(members []uint64, ids map[uint64]string) []string {
	out := make([]string, len(members))
	for i, m := range members {
		out[i] = ids[m]
		if out[i] == "" {
			out[i] = fmt.Sprintf("member %d", m)
		}
	}
	return out
}

func newResearchStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status ID",
		Short: "Show a research query's progress: status, contributing hospitals, cohort gate, release, budget left",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseResearchID(args[0])
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			rq, err := researchQuery(ctx, c, id)
			if err != nil {
				return err
			}
			ap, err := researchParams(ctx, c)
			if err != nil {
				return err
			}
			ids, err := researchHospitalIDs(ctx, c)
			if err != nil {
				return err
			}
			b, err := researcherBudget(ctx, c, ap, rq.Researcher)
			if err != nil {
				return err
			}
			hospitals := researchContributorNames(rq.Contributors, ids)
			view := map[string]any{
				"id": rq.Id, "researcher": rq.Researcher, "query": query.Format(rq.Query), "status": researchStatusName(rq.Status),
				"status_height": rq.StatusHeight, "submitted_height": rq.Height, "deadline_height": rq.DeadlineHeight,
				"contributors": rq.Contributors, "hospitals": hospitals, "members": len(ids),
				"gate_request": rq.GateRequest, "noised_count": rq.NoisedCount, "min_cohort": ap.Research.MinCohort,
				"release_request": rq.ReleaseRequest, "result_hash": hex.EncodeToString(rq.ResultHash), "reason": rq.Reason,
				"rho_micro": rq.RhoMicro, "dp_off": rq.DpOff, "slots": rq.Slots, "plaintext": rq.Plaintext,
				"budget_left_micro": researchBudgetLeft(b), "budget_granted_micro": b.GrantedMicro,
			}
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "query %d by %s\n  %s\n", rq.Id, rq.Researcher, query.Format(rq.Query))
				meaning := researchStatusMeaning[rq.Status]
				if rq.Plaintext && rq.Status == pb.ResearchQuery_STATUS_RELEASED {
					meaning = "the sums are released in plain: medchain research result"
				}
				fmt.Fprintf(w, "status        %s since height %d: %s\n", researchStatusName(rq.Status), rq.StatusHeight, meaning)
				if rq.Plaintext {
					fmt.Fprintln(w, "mode          plaintext baseline (benchmark): the hospitals answered in plain, the chain summed their figures")
				}
				if rq.Reason != "" {
					fmt.Fprintf(w, "reason        %s\n", rq.Reason)
				}
				fmt.Fprintf(w, "submitted     height %d; contributions until height %d\n", rq.Height, rq.DeadlineHeight)
				names := strings.Join(hospitals, ", ")
				if names == "" {
					names = "none yet"
				}
				fmt.Fprintf(w, "contributors  %d of %d: %s\n", len(rq.Contributors), len(ids), names)
				if rq.GateRequest != 0 {
					gate := "being decrypted"
					if rq.Status != pb.ResearchQuery_STATUS_GATING {
						gate = fmt.Sprintf("noised count %d (the alliance releases %d or more)", rq.NoisedCount, ap.Research.MinCohort)
					}
					fmt.Fprintf(w, "cohort gate   request %d: %s\n", rq.GateRequest, gate)
				}
				if rq.ReleaseRequest != 0 {
					fmt.Fprintf(w, "release       request %d", rq.ReleaseRequest)
					if len(rq.ResultHash) > 0 {
						fmt.Fprintf(w, ", result blob %x", rq.ResultHash)
					}
					fmt.Fprintln(w)
				}
				if rq.DpOff {
					fmt.Fprintln(w, "privacy       none (test alliance: dp_off)")
				} else {
					fmt.Fprintf(w, "privacy       spent ρ = %s; the researcher has ρ = %s of %s left\n",
						report.FormatMicro(rq.RhoMicro), report.FormatMicro(researchBudgetLeft(b)), report.FormatMicro(b.GrantedMicro))
				}
			})
		},
	}
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}

// researcherAddress resolves --researcher ADDR or --from KEY (no
// passphrase needed); "" if neither is given.
func researcherAddress(cmd *cobra.Command) (string, error) {
	addr, _ := cmd.Flags().GetString("researcher")
	from, _ := cmd.Flags().GetString("from")
	switch {
	case addr != "" && from != "":
		return "", errors.New("give --researcher or --from, not both")
	case addr != "":
		if _, err := pb.ParseAddress(addr); err != nil {
			return "", fmt.Errorf("--researcher: %w", err)
		}
		return addr, nil
	case from != "":
		kr, err := openKeyring(cmd)
		if err != nil {
			return "", err
		}
		k, err := kr.Show(from)
		if err != nil {
			return "", err
		}
		return k.Address, nil
	}
	return "", nil
}

func addResearcherFlags(cmd *cobra.Command) {
	cmd.Flags().String("researcher", "", "the researcher's address (mc1…)")
	cmd.Flags().String("from", "", "or the name of the researcher's key in the keyring")
	addKeyringFlags(cmd)
	addNodeFlag(cmd)
	addOutputFlag(cmd)
}

func newResearchListCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "list [--researcher ADDR | --from KEY]",
		Short: "List a researcher's queries, or every query in progress",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := researcherAddress(cmd)
			if err != nil {
				return err
			}
			path := "/research/active"
			if addr != "" {
				path = "/research/by/" + addr
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			var list pb.ResearchQueryList
			if _, err := readResearchRecord(ctx, c, path, &list); err != nil {
				return err
			}
			views := make([]map[string]any, 0, len(list.Queries))
			for _, q := range list.Queries {
				views = append(views, map[string]any{"id": q.Id, "researcher": q.Researcher, "status": researchStatusName(q.Status),
					"status_height": q.StatusHeight, "contributors": q.Contributors, "rho_micro": q.RhoMicro, "query": query.Format(q.Query)})
			}
			return output(cmd, views, func(w io.Writer) {
				if len(list.Queries) == 0 {
					if addr == "" {
						fmt.Fprintln(w, "no research query in progress")
					} else {
						fmt.Fprintf(w, "%s has submitted no research query\n", addr)
					}
					return
				}
				for _, q := range list.Queries {
					fmt.Fprintf(w, "%-6d %-10s height %-8d ρ %-8s %s\n", q.Id, researchStatusName(q.Status), q.StatusHeight,
						report.FormatMicro(q.RhoMicro), query.Format(q.Query))
				}
			})
		},
	}
	addResearcherFlags(cmd)
	return cmd
}

func newResearchBudgetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "budget (--researcher ADDR | --from KEY)",
		Short: "Show a researcher's privacy budget: granted, spent, left (zCDP ρ)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			addr, err := researcherAddress(cmd)
			if err != nil {
				return err
			}
			if addr == "" {
				return errors.New("give --researcher ADDR or --from KEY")
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			ap, err := researchParams(ctx, c)
			if err != nil {
				return err
			}
			b, err := researcherBudget(ctx, c, ap, addr)
			if err != nil {
				return err
			}
			view := map[string]any{"researcher": addr, "granted_micro": b.GrantedMicro, "spent_micro": b.SpentMicro,
				"left_micro": researchBudgetLeft(b), "dp_off": ap.Research.DpOff}
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "%s: ρ = %s left of %s granted (%s spent)\n", addr, report.FormatMicro(researchBudgetLeft(b)),
					report.FormatMicro(b.GrantedMicro), report.FormatMicro(b.SpentMicro))
				if ap.Research.DpOff {
					fmt.Fprintln(w, "this alliance runs without differential privacy (test mode): queries spend nothing")
				}
			})
		},
	}
	addResearcherFlags(cmd)
	return cmd
}

func researchHasSurvival(q *pb.Query) bool {
	return slices.ContainsFunc(q.GetStatistics(), func(s *pb.Statistic) bool { return s.GetSurvival() != nil })
}

func newResearchResultCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "result ID [--he-key NAME] [--plot FILE.svg]",
		Short: "Decrypt a released query's result with your HE key and print it (table, or -o json)",
		Long: `Fetch a released query's result, decrypt it locally with your researcher HE
key and print one table per statistic: counts, sums, means, sample variances
and standard deviations in natural units, histogram bins, the Kaplan–Meier
table S(k) = Π (1 − events/at_risk), and linear regressions solved exactly.
With differential privacy on, every value carries noise; the report says so.
--plot FILE.svg draws the survival curves. A plaintext-baseline query's
result is in plain on chain: it needs no --he-key.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			id, err := parseResearchID(args[0])
			if err != nil {
				return err
			}
			heName, _ := cmd.Flags().GetString("he-key")
			if heName != "" {
				if err := checkHEKeyName("--he-key", heName); err != nil {
					return err
				}
			}
			if err := checkResearchOutput(cmd); err != nil {
				return err
			}
			plot, _ := cmd.Flags().GetString("plot")
			if plot != "" && !strings.EqualFold(filepath.Ext(plot), ".svg") {
				return fmt.Errorf("--plot %q: the plot is an SVG image; name the file *.svg", plot)
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 60*time.Second)
			defer cancel()
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			rq, err := researchQuery(ctx, c, id)
			if err != nil {
				return err
			}
			switch rq.Status {
			case pb.ResearchQuery_STATUS_RELEASED:
			case pb.ResearchQuery_STATUS_REFUSED, pb.ResearchQuery_STATUS_FAILED:
				return fmt.Errorf("query %d was %s at height %d: %s; it has no result", id, researchStatusName(rq.Status), rq.StatusHeight, rq.Reason)
			default:
				return fmt.Errorf("query %d is %s (%s): its result is not released yet; follow it with `medchain research status %d`",
					id, researchStatusName(rq.Status), researchStatusMeaning[rq.Status], id)
			}
			if plot != "" && !researchHasSurvival(rq.Query) {
				return fmt.Errorf("--plot: query %d has no survival(...) statistic to plot", id)
			}
			switch {
			case rq.Plaintext && heName != "":
				return fmt.Errorf("query %d is a plaintext-baseline query: its result is in plain on chain; drop --he-key", id)
			case !rq.Plaintext && heName == "":
				return fmt.Errorf("--he-key is required: query %d's result is switched to the researcher HE key it was submitted with", id)
			}
			ap, err := researchParams(ctx, c)
			if err != nil {
				return err
			}
			hp, lim, err := report.Alliance(ap)
			if err != nil {
				return err
			}
			ids, err := researchHospitalIDs(ctx, c)
			if err != nil {
				return err
			}
			var vals []int64
			if rq.Plaintext {
				if len(rq.PlainResult) != int(rq.Slots) {
					return fmt.Errorf("the node's record of query %d has %d plain values for %d slots; ask another node", id, len(rq.PlainResult), rq.Slots)
				}
				vals = rq.PlainResult
			} else if vals, err = researchDecrypt(ctx, cmd, c, hp, rq, heName); err != nil {
				return err
			}
			ep, err := researchEpoch(ctx, c, rq.Epoch)
			if err != nil {
				return err
			}
			r, err := report.Build(rq, lim, vals, dpNoiseSigma(len(ep.Members), int(ep.Threshold)))
			clear(vals)
			if err != nil {
				return err
			}
			r.Hospitals = researchContributorNames(rq.Contributors, ids)
			if plot != "" {
				if err := writeResearchPlot(plot, r); err != nil {
					return err
				}
				fmt.Fprintf(cmd.ErrOrStderr(), "wrote the Kaplan–Meier plot to %s\n", plot)
			}
			return output(cmd, r, func(w io.Writer) { _ = report.WriteText(w, r) })
		},
	}
	cmd.Flags().String("he-key", "", "name of the researcher HE key the query was submitted with (none for a plaintext-baseline query)")
	cmd.Flags().String("plot", "", "write the survival curves to this SVG file")
	addKeyringFlags(cmd)
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}

// researchDecrypt fetches released query rq's result blob, checks it
// against its hash and decrypts it with the researcher HE key heName.
func researchDecrypt(ctx context.Context, cmd *cobra.Command, c *client.Client, hp *he.Params, rq *pb.ResearchQuery, heName string) ([]int64, error) {
	id := rq.Id
	q, err := c.Query(ctx, "/blob/"+hex.EncodeToString(rq.ResultHash), 0, false)
	if err != nil {
		return nil, err
	}
	if q.Value == nil {
		return nil, fmt.Errorf("the node has no result blob %x of query %d", rq.ResultHash, id)
	}
	if h := sha256.Sum256(q.Value); !slices.Equal(h[:], rq.ResultHash) {
		return nil, fmt.Errorf("the node's result blob of query %d does not match its hash %x; ask another node", id, rq.ResultHash)
	}
	kr, err := openKeyring(cmd)
	if err != nil {
		return nil, err
	}
	k, err := openResearcherKey(kr, heName, hp)
	if err != nil {
		return nil, err
	}
	defer k.Clear()
	if h := k.PublicHash(); !slices.Equal(h[:], rq.ResearcherKeyHash) {
		return nil, fmt.Errorf("query %d's result was switched to another HE key (sha256 %x), not to %q (sha256 %x): use the --he-key it was submitted with",
			id, rq.ResearcherKeyHash, heName, h)
	}
	vals, err := hp.Decrypt(k.Secret, q.Value)
	if err != nil {
		return nil, fmt.Errorf("decrypting the result of query %d: %w", id, err)
	}
	return vals, nil
}

// writeResearchPlot writes the survival SVG of r to path, replacing it whole.
func writeResearchPlot(path string, r *report.Report) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".plot-*.svg")
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	defer os.Remove(tmp.Name())
	if err := report.WriteSurvivalSVG(tmp, r); err != nil {
		tmp.Close()
		return fmt.Errorf("--plot: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}

// researchEpoch reads key epoch e (its members and threshold).
func researchEpoch(ctx context.Context, c *client.Client, e uint64) (*pb.KeyEpoch, error) {
	q, err := c.Query(ctx, fmt.Sprintf("/he/epoch/%d", e), 0, false)
	if err != nil {
		return nil, err
	}
	var ep pb.KeyEpoch
	if q.Value == nil {
		return nil, fmt.Errorf("the chain has no key epoch %d", e)
	}
	if err := tx.Unmarshal(q.Value, &ep); err != nil {
		return nil, err
	}
	return &ep, nil
}
