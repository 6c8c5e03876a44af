package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

func newHECmd() *cobra.Command {
	hc := &cobra.Command{Use: "he", Short: "The alliance's collective homomorphic-encryption key"}
	status := &cobra.Command{
		Use:   "status [--epoch N] [--node URL]",
		Short: "Show a key epoch: members, who posted their share, ready or not",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			epoch, _ := cmd.Flags().GetUint64("epoch")
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 20*time.Second)
			defer cancel()
			q, err := c.Query(ctx, fmt.Sprintf("/he/epoch/%d", epoch), 0, false)
			if err != nil {
				return err
			}
			if q.Value == nil {
				return fmt.Errorf("key epoch %d does not exist on this chain (does its genesis have an \"he\" section?)", epoch)
			}
			var ep pb.KeyEpoch
			if err := tx.Unmarshal(q.Value, &ep); err != nil {
				return err
			}
			var missing []uint64
			for _, m := range ep.Members {
				posted := false
				for _, p := range ep.Posted {
					posted = posted || p == m
				}
				if !posted {
					missing = append(missing, m)
				}
			}
			view := map[string]any{"epoch": ep.Epoch, "members": ep.Members, "threshold": ep.Threshold, "committed": ep.Committed, "posted": ep.Posted,
				"missing": missing, "ready": ep.Ready, "ready_height": ep.ReadyHeight, "public_key_hash": fmt.Sprintf("%x", ep.PublicKeyHash), "height": q.Height}
			return output(cmd, view, func(w io.Writer) {
				state := "in progress"
				if ep.Ready {
					state = fmt.Sprintf("READY since height %d, public key %x", ep.ReadyHeight, ep.PublicKeyHash)
				}
				fmt.Fprintf(w, "key epoch %d at height %d: %s\n  members   %v, threshold %d of %d\n  committed %v\n  posted    %v\n  missing   %v\n",
					ep.Epoch, q.Height, state, ep.Members, ep.Threshold, len(ep.Members), ep.Committed, ep.Posted, missing)
			})
		},
	}
	status.Flags().Uint64("epoch", 1, "key epoch")
	addNodeFlag(status)
	addOutputFlag(status)
	hc.AddCommand(status)
	return hc
}
