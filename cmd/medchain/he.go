package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/he"
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

// researchKeyFile is what `medchain research keygen` writes.
type researchKeyFile struct {
	Kind   string `json:"kind"`
	Public string `json:"public_key"`
	Secret string `json:"secret_key"`
}

func newResearchCmd() *cobra.Command {
	rc := &cobra.Command{Use: "research", Short: "Researcher tools"}
	keygen := &cobra.Command{
		Use:   "keygen --out FILE",
		Short: "Create a researcher HE key pair (results are switched to its public key; the file is 0600)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			if _, err := os.Stat(out); err == nil {
				return fmt.Errorf("%s exists; refusing to overwrite a key", out)
			}
			p, err := he.NewParams(he.DefaultLiteral())
			if err != nil {
				return err
			}
			priv, pub, err := p.GenResearcherKey()
			if err != nil {
				return err
			}
			raw, err := json.Marshal(researchKeyFile{Kind: "medchain-researcher-he-key/v1",
				Public: base64.StdEncoding.EncodeToString(pub), Secret: base64.StdEncoding.EncodeToString(priv)})
			clear(priv)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, raw, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote a researcher HE key pair to %s (%d-byte public key); keep the file private\n", out, len(pub))
			return nil
		},
	}
	keygen.Flags().String("out", "", "file to write (0600)")
	rc.AddCommand(keygen)
	return rc
}
