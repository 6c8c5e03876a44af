package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/client"
)

func addNodeFlag(cmd *cobra.Command) {
	cmd.Flags().String("node", "http://127.0.0.1:26657", "RPC address of a medchain node")
}

func dial(cmd *cobra.Command) (*client.Client, error) {
	url, _ := cmd.Flags().GetString("node")
	return client.Dial(url)
}

func newStatusCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status [--node URL]",
		Short: "Show a node's chain, height, app hash and sync state",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 10*time.Second)
			defer cancel()
			st, err := c.Status(ctx)
			if err != nil {
				return err
			}
			info, err := c.RPC().ABCIInfo(ctx)
			if err != nil {
				return err
			}
			view := map[string]any{
				"chain_id": st.NodeInfo.Network, "moniker": st.NodeInfo.Moniker, "node_id": st.NodeInfo.ID(),
				"latest_height": st.SyncInfo.LatestBlockHeight, "latest_block_time": st.SyncInfo.LatestBlockTime,
				"catching_up": st.SyncInfo.CatchingUp, "app_height": info.Response.LastBlockHeight,
				"app_hash": fmt.Sprintf("%X", info.Response.LastBlockAppHash), "app_version": info.Response.Version,
				"validator_address": st.ValidatorInfo.Address.String(), "voting_power": st.ValidatorInfo.VotingPower,
			}
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "chain      %s\nnode       %s (%s)\nheight     %d at %s\napp        height %d, hash %X, medchain %s\ncatching up %v\nvalidator  %s, power %d\n",
					st.NodeInfo.Network, st.NodeInfo.Moniker, st.NodeInfo.ID(),
					st.SyncInfo.LatestBlockHeight, st.SyncInfo.LatestBlockTime.Format(time.RFC3339),
					info.Response.LastBlockHeight, info.Response.LastBlockAppHash, info.Response.Version,
					st.SyncInfo.CatchingUp, st.ValidatorInfo.Address, st.ValidatorInfo.VotingPower)
			})
		},
	}
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}
