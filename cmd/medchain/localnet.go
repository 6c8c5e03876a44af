package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/localnet"
)

func newLocalnetCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "localnet --validators N --dir D [--base-port P]",
		Short: "Write N validator homes sharing one genesis, peered on 127.0.0.1, and D/localnet.json",
		Long: "Writes the homes only; run them with scripts/localnet.sh start (one OS process per validator).\n" +
			"Node i uses P2P port P+2i and RPC port P+2i+1. Keyrings use the test backend: a localnet is for testing.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			n, _ := f.GetInt("validators")
			dir, _ := f.GetString("dir")
			base, _ := f.GetInt("base-port")
			chainID, _ := f.GetString("chain-id")
			if base <= 0 {
				return fmt.Errorf("--base-port %d: give a port such as 26600", base)
			}
			m, err := localnet.Generate(localnet.Options{Dir: dir, Validators: n, ChainID: chainID, BasePort: base})
			if err != nil {
				return err
			}
			return output(cmd, m, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %d validator homes for chain %s in %s\n", len(m.Nodes), m.ChainID, m.Dir)
				for _, n := range m.Nodes {
					fmt.Fprintf(w, "  node%d  rpc %s  p2p %s  operator %s\n", n.Index, n.RPC, n.P2P, n.OperatorAddress)
				}
				fmt.Fprintf(w, "run them: scripts/localnet.sh -d %s start\n", m.Dir)
			})
		},
	}
	cmd.Flags().Int("validators", 4, "number of validators")
	cmd.Flags().String("dir", "./localnet", "empty folder for the homes")
	cmd.Flags().Int("base-port", 26600, "first port; node i uses base+2i (p2p) and base+2i+1 (rpc)")
	cmd.Flags().String("chain-id", "medchain-localnet", "chain id")
	addOutputFlag(cmd)
	return cmd
}

func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a temporary 4-hospital alliance, exercise it, check every node agrees, and clean up",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			keep, _ := cmd.Flags().GetBool("keep")
			n, _ := cmd.Flags().GetInt("validators")
			bin, err := os.Executable()
			if err != nil {
				return fmt.Errorf("find the medchain binary: %w", err)
			}
			tmp, err := os.MkdirTemp("", "medchain-demo-")
			if err != nil {
				return err
			}
			if !keep {
				defer os.RemoveAll(tmp)
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
			defer cancel()
			start := time.Now()
			err = localnet.RunDemo(ctx, localnet.DemoOptions{Bin: bin, Dir: filepath.Join(tmp, "alliance"), Validators: n, Out: cmd.OutOrStdout(), Auditor: demoAuditor})
			if err != nil {
				if !keep {
					fmt.Fprintf(cmd.ErrOrStderr(), "(re-run with --keep to inspect the homes and logs)\n")
				}
				return fmt.Errorf("demo failed: %w", err)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "demo took %s\n", time.Since(start).Round(100*time.Millisecond))
			return nil
		},
	}
	cmd.Flags().Bool("keep", false, "keep the temporary homes and logs")
	cmd.Flags().Int("validators", 4, "number of validators (at least 4)")
	return cmd
}
