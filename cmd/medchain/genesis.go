package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
)

func newGenesisCmd() *cobra.Command {
	g := &cobra.Command{Use: "genesis", Short: "Build the genesis of a multi-host alliance"}
	info := &cobra.Command{
		Use:   "member-info --home H [--hospital-id ID] [--hospital-name NAME] [--p2p-address HOST:PORT]",
		Short: "Print this hospital's member file (public keys only) for the alliance coordinator",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			id, _ := f.GetString("hospital-id")
			name, _ := f.GetString("hospital-name")
			addr, _ := f.GetString("p2p-address")
			backend, _ := f.GetString("keyring-backend")
			m, err := node.MemberInfo(homeOf(cmd), backend, promptPassphrase, id, name, addr)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		},
	}
	info.Flags().String("hospital-id", "", "hospital id (default: from the moniker)")
	info.Flags().String("hospital-name", "", "hospital name (default: the moniker)")
	info.Flags().String("p2p-address", "", "host:port where the other hospitals reach this node (required for peers)")
	addKeyringFlags(info)

	build := &cobra.Command{
		Use:   "build --chain-id ID --alliance NAME --member FILE... --out genesis.json",
		Short: "Combine the member files into the alliance's genesis, and print the persistent_peers line",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			chainID, _ := f.GetString("chain-id")
			alliance, _ := f.GetString("alliance")
			files, _ := f.GetStringSlice("member")
			out, _ := f.GetString("out")
			if len(files) == 0 || out == "" {
				return fmt.Errorf("--member (one per hospital) and --out are required")
			}
			var members []genesis.Member
			var peers []string
			for _, path := range files {
				m, err := genesis.ReadMember(path)
				if err != nil {
					return err
				}
				members = append(members, *m)
				if p := m.Peer(); p != "" {
					peers = append(peers, p)
				}
			}
			doc, err := genesis.Build(chainID, alliance, members, nil, genesis.DefaultParams(), time.Now())
			if err != nil {
				return err
			}
			if err := doc.SaveAs(out); err != nil {
				return fmt.Errorf("write %s: %w", out, err)
			}
			return output(cmd, map[string]any{"genesis": out, "persistent_peers": strings.Join(peers, ",")}, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %s (%d members)\ncopy it to <home>/config/genesis.json on every node, and set in config.toml:\n  persistent_peers = %q\n",
					out, len(members), strings.Join(peers, ","))
			})
		},
	}
	build.Flags().String("chain-id", "medchain-1", "chain id")
	build.Flags().String("alliance", "medchain alliance", "alliance name")
	build.Flags().StringSlice("member", nil, "member file from `genesis member-info` (repeat)")
	build.Flags().String("out", "", "genesis file to write")
	addOutputFlag(build)

	validate := &cobra.Command{
		Use: "validate FILE", Short: "Check a genesis file", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			doc, s, err := genesis.Load(args[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: chain %s, alliance %q, %d hospitals, %d accounts: valid\n", args[0], doc.ChainID, s.Alliance, len(s.Hospitals), len(s.Accounts))
			return nil
		},
	}
	g.AddCommand(info, build, validate)
	return g
}
