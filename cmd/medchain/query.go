package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
)

func newQueryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "query PATH [--height H] [--prove]",
		Short: "Read chain state; with --prove, verify an ICS23 proof against the signed header",
		Long:  "Paths:\n  " + strings.Join(abci.QueryPaths, "\n  "),
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			height, _ := cmd.Flags().GetInt64("height")
			prove, _ := cmd.Flags().GetBool("prove")
			if height < 0 {
				return fmt.Errorf("--height %d: must be 0 (latest) or a positive height", height)
			}
			path := "/" + strings.TrimPrefix(args[0], "/")
			c, err := dial(cmd)
			if err != nil {
				return err
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), 30*time.Second)
			defer cancel()
			q, err := c.Query(ctx, path, height, prove)
			if err != nil {
				return err
			}
			var record any
			if q.Value != nil {
				m := recordFor(path)
				if m == nil {
					record = fmt.Sprintf("%X", q.Value)
				} else if err := tx.Unmarshal(q.Value, m); err != nil {
					return fmt.Errorf("the node's answer does not decode as %T: %w", m, err)
				} else {
					js, _ := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
					record = jsonRaw(js)
				}
			}
			view := map[string]any{"path": path, "height": q.Height, "key": fmt.Sprintf("%X", q.Key), "found": q.Value != nil,
				"record": record, "proof_verified": q.Verified}
			if q.Verified {
				view["app_hash"] = fmt.Sprintf("%X", q.AppHash)
			}
			return output(cmd, view, func(w io.Writer) {
				if q.Value == nil {
					fmt.Fprintf(w, "%s: no record at height %d\n", path, q.Height)
				} else {
					fmt.Fprintf(w, "%s at height %d:\n%s\n", path, q.Height, record)
				}
				if q.Verified {
					fmt.Fprintf(w, "proof verified against app hash %X (header %d, signed by >2/3 of the validators)\n", q.AppHash, q.Height+1)
				}
			})
		},
	}
	cmd.Flags().Int64("height", 0, "state height to read (0 = latest)")
	cmd.Flags().Bool("prove", false, "ask for and verify an ICS23 proof")
	addNodeFlag(cmd)
	addOutputFlag(cmd)
	return cmd
}

type jsonRaw []byte

func (j jsonRaw) MarshalJSON() ([]byte, error) { return j, nil }
func (j jsonRaw) String() string               { return string(j) }

func recordFor(path string) proto.Message {
	parts := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if parts[0] == "he" && len(parts) > 1 {
		switch parts[1] {
		case "epoch":
			return &pb.KeyEpoch{}
		case "keyshare":
			return &pb.KeyShareRecord{}
		case "ciphertext":
			return &pb.CiphertextRecord{}
		case "request":
			return &pb.DecryptionRequest{}
		case "pending":
			return &pb.DecryptionRequestList{}
		}
	}
	switch parts[0] {
	case "account":
		return &pb.Account{}
	case "hospital":
		return &pb.Hospital{}
	case "hospitals":
		return &pb.HospitalList{}
	case "params":
		return &pb.Params{}
	case "memo":
		return &pb.Memo{}
	}
	return nil
}
