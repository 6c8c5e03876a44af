package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

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
		Short: "Check a chain from a copy of it: replay every block from genesis",
	}
	cmd.AddCommand(newAuditReplayCmd())
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
	homeSet := cmd.Flags().Changed("home") || os.Getenv("MEDCHAIN_HOME") != ""
	if rpc != "" && cmd.Flags().Changed("home") {
		return errors.New("give --home (a stopped node's home) or --rpc (a node's RPC), not both")
	}
	var src audit.Source
	if rpc != "" {
		r, err := audit.DialRPC(rpc)
		if err != nil {
			return err
		}
		src = r
	} else {
		if !homeSet {
			if _, err := os.Stat(homeOf(cmd)); err != nil {
				return fmt.Errorf("give --home (a stopped node's home) or --rpc (a node's RPC); the default home %s does not exist", homeOf(cmd))
			}
		}
		h, err := audit.OpenHome(homeOf(cmd))
		if err != nil {
			if errors.Is(err, audit.ErrCorruptStore) {
				return &exitCodeError{code: exitAuditUnreadable, err: err}
			}
			return err
		}
		src = h
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
