package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cometbft/cometbft/types"
	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/medchain/medchain/node/audit"
)

// Exit codes of `medchain audit replay` (docs/AUDIT.md). 1 is any error
// that kept the replay from running (flags, a locked or absent home).
const (
	// exitAuditFailed: the chain fails the audit (a tampered block, an app
	// hash the replay does not reach, a node state that disagrees).
	exitAuditFailed = 2
	// exitAuditUnreadable: the copy is corrupt or truncated.
	exitAuditUnreadable = 4
)

// exitCodeError carries the process exit code an error calls for; main
// exits with ExitCode() when an error has one.
type exitCodeError struct {
	code int
	err  error
}

func (e *exitCodeError) Error() string { return e.err.Error() }
func (e *exitCodeError) Unwrap() error { return e.err }
func (e *exitCodeError) ExitCode() int { return e.code }

func newAuditCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Check a chain from a copy of it: replay it, report who did what, verify one entry",
	}
	cmd.AddCommand(newAuditReplayCmd(), newAuditReportCmd(), newAuditVerifyCmd())
	return cmd
}

func newAuditReplayCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "replay --home H | --rpc URL [--to N] [-o json]",
		Short: "Re-execute every block from genesis in a fresh state and check every height",
		Long: `Re-executes the chain from genesis in a fresh, temporary state and checks, at every
height, the block's data hash, its hash chain and signatures, and that the app hash it
reaches is the one the next header commits (for the last height: the home's own state,
or the node's app). The node of --home must be stopped (its files are opened read-only);
--rpc reads a running node.

Exit codes: 0 the chain passes; 2 it fails (the message names the first bad height and,
when it can, the tx); 4 the copy is corrupt or truncated (the message names the height);
1 the replay could not run.`,
		Args: cobra.NoArgs,
		RunE: runAuditReplay,
	}
	cmd.Flags().String("rpc", "", "replay from a node's RPC (http://host:port) instead of a home")
	cmd.Flags().Int64("from", 0, "first height; a replay starts at the genesis initial height (0 = that)")
	cmd.Flags().Int64("to", 0, "last height to replay (0 = the last block the copy holds)")
	cmd.Flags().Int64("progress-blocks", 1000, "write a progress line to stderr every this many blocks (or every 5 s)")
	cmd.Flags().Bool("quiet", false, "no progress lines")
	addOutputFlag(cmd)
	return cmd
}

func runAuditReplay(cmd *cobra.Command, _ []string) error {
	rpc, _ := cmd.Flags().GetString("rpc")
	from, _ := cmd.Flags().GetInt64("from")
	to, _ := cmd.Flags().GetInt64("to")
	every, _ := cmd.Flags().GetInt64("progress-blocks")
	quiet, _ := cmd.Flags().GetBool("quiet")
	if o, _ := cmd.Flags().GetString("output"); o != "text" && o != "json" {
		return fmt.Errorf("--output %q: use text or json", o)
	}
	if from < 0 || to < 0 || every < 1 {
		return fmt.Errorf("--from %d, --to %d, --progress-blocks %d: heights are 0 or positive, the progress step at least 1", from, to, every)
	}
	src, err := openAuditSource(cmd, rpc)
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := audit.Options{From: from, To: to, ProgressBlocks: every}
	if !quiet {
		o.Progress = cmd.ErrOrStderr()
	}
	rep, err := audit.Replay(ctx, src, o)
	if rep == nil {
		if errors.Is(err, context.Canceled) {
			return errors.New("audit replay interrupted")
		}
		return err
	}
	if perr := output(cmd, rep, func(w io.Writer) { printReplayReport(w, rep) }); perr != nil {
		return perr
	}
	var f *audit.Failure
	switch {
	case errors.As(err, &f) && f.Kind == audit.Unreadable:
		return &exitCodeError{code: exitAuditUnreadable, err: err}
	case errors.As(err, &f):
		return &exitCodeError{code: exitAuditFailed, err: err}
	case err != nil:
		return err
	}
	return nil
}

// openAuditSource opens --rpc, or else the home (--home, MEDCHAIN_HOME or
// the default, which must exist), read-only.
func openAuditSource(cmd *cobra.Command, rpc string) (audit.Source, error) {
	h, err := openAuditHome(cmd, rpc)
	if err != nil {
		return nil, err
	}
	if h != nil {
		return h, nil
	}
	return audit.DialRPC(rpc)
}

// openAuditHome opens the home unless --rpc is given (then nil, nil).
func openAuditHome(cmd *cobra.Command, rpc string) (*audit.Home, error) {
	homeSet := cmd.Flags().Changed("home") || os.Getenv("MEDCHAIN_HOME") != ""
	if rpc != "" && cmd.Flags().Changed("home") {
		return nil, errors.New("give --home (a stopped node's home) or --rpc (a node's RPC), not both")
	}
	if rpc != "" {
		return nil, nil
	}
	if !homeSet {
		if _, err := os.Stat(homeOf(cmd)); err != nil {
			return nil, fmt.Errorf("give --home (a stopped node's home) or --rpc (a node's RPC); the default home %s does not exist", homeOf(cmd))
		}
	}
	h, err := audit.OpenHome(homeOf(cmd))
	if err != nil {
		if errors.Is(err, audit.ErrCorruptStore) {
			return nil, &exitCodeError{code: exitAuditUnreadable, err: err}
		}
		return nil, err
	}
	return h, nil
}

// replayExit maps a replay's error to the command's exit code.
func replayExit(err error) error {
	var f *audit.Failure
	switch {
	case errors.As(err, &f) && f.Kind == audit.Unreadable:
		return &exitCodeError{code: exitAuditUnreadable, err: err}
	case errors.As(err, &f):
		return &exitCodeError{code: exitAuditFailed, err: err}
	case errors.Is(err, context.Canceled):
		return errors.New("audit interrupted")
	}
	return err
}

func printReplayReport(w io.Writer, r *audit.ReplayReport) {
	fmt.Fprintf(w, "chain     %s\n", r.ChainID)
	fmt.Fprintf(w, "heights   %d to %d: %d passed, %d txs\n", r.From, r.To, r.Heights, r.Txs)
	if r.AppHash != "" {
		fmt.Fprintf(w, "app hash  %s after height %d, checked against %s\n", r.AppHash, r.From+r.Heights-1, checkedBy(r))
	}
	fmt.Fprintf(w, "speed     %.0f blocks/s, %.0f tx/s (%s)\n", r.BlocksPerSecond, r.TxsPerSecond, r.Elapsed.Round(1e6))
	if r.Failure == nil {
		fmt.Fprintln(w, "result    PASS")
		return
	}
	fmt.Fprintf(w, "result    FAIL (%s): %v\n", r.Failure.Kind, r.Failure)
}

func checkedBy(r *audit.ReplayReport) string {
	if r.Failure != nil || r.LastCheckedBy == "" {
		return "the next header"
	}
	return r.LastCheckedBy
}

func newAuditReportCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "report --home H | --rpc URL [--patient PID] [--accesses] [--breakglass] [--queries] [--governance] [--since H] [--to H] [-o text|json|csv]",
		Short: "Who accessed which record, refusals, break-glass reviews, research queries and governance, from a replay",
		Long: `Replays the chain from genesis (as ` + "`audit replay`" + `, with every check) and reports, from the
replay's own state and the events it re-executed — never from a node's logs:
  accesses     every access entry: entry, height, doctor, record, patient pseudonym, custodian,
               grant id or "emergency", purpose; and every tx refused in a block (height,
               signer, type, code, the denial's reason word, log)
  break-glass  every emergency read: the doctor's reason as recorded, review open or closed,
               finding, reviewer, heights
  queries      every research query: researcher, canonical text, statistics, status, cohort
               gate outcome and noised count once public, ρ spent, contributors; budgets
  governance   every proposal: action, proposer, electorate, votes with heights, outcome
Patients appear by pseudonym only, people by account address.

With no section flag every section is reported (with --patient: only the record sections,
filtered to that patient's records). --since H keeps what happened at or after height H.
-o csv writes one CSV stream: each section starts with a header row whose first field is
"section", and each row's first field is the section's name (access, refusal, break_glass,
query, budget, governance).

Exit codes as for ` + "`audit replay`" + `: 2 the chain fails the replay (no report), 4 the copy is
unreadable, 1 the report could not be made.`,
		Args: cobra.NoArgs,
		RunE: runAuditReport,
	}
	cmd.Flags().String("rpc", "", "read the chain from a node's RPC (http://host:port) instead of a home")
	cmd.Flags().String("patient", "", "only this patient's records (its pseudonym, 64 hex digits)")
	cmd.Flags().Bool("accesses", false, "the accesses and refusals section")
	cmd.Flags().Bool("breakglass", false, "the break-glass section")
	cmd.Flags().Bool("queries", false, "the research queries section")
	cmd.Flags().Bool("governance", false, "the governance section")
	cmd.Flags().Int64("since", 0, "only what happened at or after this height")
	cmd.Flags().Int64("to", 0, "report the state at this height (0 = the copy's last block)")
	cmd.Flags().Bool("quiet", false, "no progress lines")
	cmd.Flags().StringP("output", "o", "text", "output format: text, json or csv")
	return cmd
}

func runAuditReport(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	rpc, _ := f.GetString("rpc")
	var ro audit.ReportOptions
	ro.Patient, _ = f.GetString("patient")
	ro.Accesses, _ = f.GetBool("accesses")
	ro.BreakGlass, _ = f.GetBool("breakglass")
	ro.Queries, _ = f.GetBool("queries")
	ro.Governance, _ = f.GetBool("governance")
	ro.Since, _ = f.GetInt64("since")
	to, _ := f.GetInt64("to")
	quiet, _ := f.GetBool("quiet")
	format, _ := f.GetString("output")
	if format != "text" && format != "json" && format != "csv" {
		return fmt.Errorf("--output %q: use text, json or csv", format)
	}
	if to < 0 {
		return fmt.Errorf("--to %d: give a height, or 0 for the last block", to)
	}
	if err := ro.Validate(); err != nil {
		return err
	}
	src, err := openAuditSource(cmd, rpc)
	if err != nil {
		return err
	}
	defer src.Close()
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	o := audit.Options{To: to}
	if !quiet {
		o.Progress = cmd.ErrOrStderr()
	}
	r, _, err := audit.BuildReport(ctx, src, o, ro)
	if err != nil {
		return replayExit(err)
	}
	out := cmd.OutOrStdout()
	switch format {
	case "json":
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "csv":
		return r.WriteCSV(out)
	}
	return r.WriteText(out)
}

// exitVerifyFailed: the evidence does not hold (a bad proof, a header not
// signed by its validators, validators not traced to genesis).
const exitVerifyFailed = 2

func newAuditVerifyCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "verify --entry access:ID|grant:ID|query:ID --height H (--home H | --rpc URL) [-o json]",
		Short: "Prove one access entry, grant or query against the signed header, checked offline",
		Long: `Fetches the entry's state record at height H with its ICS23 proof, header H+1 (whose app
hash is the state's after H) with its commit, and that header's validator set, then checks
them with no trust in the source: the header is signed by more than 2/3 of the set; the set
is the genesis validators (or, from a home, the one a replay from genesis derived; over RPC,
one that light-client verification traces from the genesis validators); the proof ties the
record, at the key computed locally from the entry, to the header's app hash.

--rpc reads a running node (/abci_query, /commit, /validators, /genesis). --home reads a
stopped node's home without trusting its state: the chain is replayed from genesis to H
and the entry proved in the replay's own state; header H+1 and its commit come from the
block store. --height 0 means the latest height that has a next header.

Prints the entry and "verified". Exit codes: 0 verified; 2 NOT VERIFIED (the reason says
which check failed) or, from a home, the chain fails the replay; 4 the home is unreadable;
1 anything else, including an entry that does not exist at H (its absence is proved).`,
		Args: cobra.NoArgs,
		RunE: runAuditVerify,
	}
	cmd.Flags().String("entry", "", "the entry: access:ID, grant:ID or query:ID")
	cmd.Flags().Int64("height", 0, "the state height to prove it at (0 = the latest provable)")
	cmd.Flags().String("rpc", "", "fetch from a node's RPC (http://host:port) instead of a home")
	cmd.Flags().Bool("quiet", false, "no progress lines while a home is replayed")
	addOutputFlag(cmd)
	return cmd
}

func runAuditVerify(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	rpc, _ := f.GetString("rpc")
	raw, _ := f.GetString("entry")
	height, _ := f.GetInt64("height")
	quiet, _ := f.GetBool("quiet")
	if o, _ := f.GetString("output"); o != "text" && o != "json" {
		return fmt.Errorf("--output %q: use text or json", o)
	}
	if raw == "" {
		return errors.New("--entry is required: access:ID, grant:ID or query:ID (ids as `medchain audit report` lists them)")
	}
	entry, err := audit.ParseEntry(raw)
	if err != nil {
		return err
	}
	if height < 0 {
		return fmt.Errorf("--height %d: give a height, or 0 for the latest provable", height)
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h, err := openAuditHome(cmd, rpc)
	if err != nil {
		return err
	}
	var ev *audit.Evidence
	var doc *types.GenesisDoc
	if h != nil {
		defer h.Close()
		o := audit.Options{}
		if !quiet {
			o.Progress = cmd.ErrOrStderr()
		}
		if ev, doc, err = audit.FetchEvidenceHome(ctx, h, entry, height, o); err != nil {
			return replayExit(err)
		}
	} else if ev, doc, err = audit.FetchEvidenceRPC(ctx, rpc, entry, height); err != nil {
		return err
	}
	v, err := ev.Verify(doc, time.Now())
	var ve *audit.VerifyError
	if errors.As(err, &ve) {
		return &exitCodeError{code: exitVerifyFailed, err: err}
	}
	if err != nil {
		return err
	}
	js, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v.Record)
	if err != nil {
		return err
	}
	view := map[string]any{"entry": v.Entry.String(), "path": v.Path, "height": v.Height, "record": jsonRaw(js),
		"app_hash": fmt.Sprintf("%X", v.AppHash), "header": v.Height + 1, "signers": v.Signers, "validators": v.Validators,
		"validators_trusted_as": v.Trust, "verified": true}
	return output(cmd, view, func(w io.Writer) {
		fmt.Fprintf(w, "%s (%s) at height %d:\n%s\n", v.Entry, v.Path, v.Height, js)
		fmt.Fprintf(w, "proof checked against app hash %X of header %d, signed by %d of %d validators (%s)\n", v.AppHash, v.Height+1, v.Signers, v.Validators, v.Trust)
		fmt.Fprintln(w, "verified")
	})
}
