package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/node"
)

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --home H --moniker NAME [--chain-id ID]",
		Short: "Create a validator home: CometBFT config, keys, genesis, app.toml and the operator key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			moniker, _ := f.GetString("moniker")
			chainID, _ := f.GetString("chain-id")
			hid, _ := f.GetString("hospital-id")
			hname, _ := f.GetString("hospital-name")
			backend, _ := f.GetString("keyring-backend")
			skip, _ := f.GetBool("no-genesis")
			res, err := node.Init(node.InitOptions{
				Home: homeOf(cmd), Moniker: moniker, ChainID: chainID, HospitalID: hid, HospitalName: hname,
				KeyringBackend: backend, Passphrase: promptPassphrase, SkipGenesis: skip,
			})
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Initialised %s\n  hospital   %s (%s)\n  node id    %s\n  validator  %s\n  operator   %s (key %q in the keyring)\n",
					homeOf(cmd), res.Member.ID, res.Member.Name, res.Member.NodeID,
					base64.StdEncoding.EncodeToString(res.Member.ValidatorPubKey), res.OperatorAddress, node.OperatorKeyName)
				if skip {
					fmt.Fprintln(w, "No genesis written: run `medchain genesis member-info` and send it to the alliance's coordinator.")
				} else {
					fmt.Fprintf(w, "Start it with: medchain start --home %s\n", homeOf(cmd))
				}
			})
		},
	}
	f := cmd.Flags()
	f.String("moniker", "", "node name (required)")
	f.String("chain-id", "medchain-1", "chain id")
	f.String("hospital-id", "", "hospital id in genesis (default: from the moniker)")
	f.String("hospital-name", "", "hospital name in genesis (default: the moniker)")
	f.Bool("no-genesis", false, "do not write a one-member genesis (joining a multi-host alliance)")
	addKeyringFlags(cmd)
	addOutputFlag(cmd)
	_ = cmd.MarkFlagRequired("moniker")
	return cmd
}

func newStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start --home H",
		Short: "Run the validator: CometBFT in-process with the medchain app, until SIGINT/SIGTERM",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, err := node.LoadConfig(homeOf(cmd), cmd.Flags())
			if err != nil {
				return err
			}
			conf.BenchKVStore, _ = cmd.Flags().GetBool("bench-kvstore")
			logger, err := node.NewLogger(conf.Comet, os.Stdout)
			if err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return node.Run(ctx, conf, logger)
		},
	}
	node.AddStartFlags(cmd.Flags())
	cmd.Flags().Bool("bench-kvstore", false, "run CometBFT's kvstore example app instead of medchain (benchmark baseline only)")
	_ = cmd.Flags().MarkHidden("bench-kvstore")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the medchain version and state-machine protocol version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "medchain %s (app protocol %d)\n", abci.Version, abci.AppVersion)
		},
	}
}
