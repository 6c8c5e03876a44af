package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/memo"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/client"
)

func newTxCmd() *cobra.Command {
	txc := &cobra.Command{Use: "tx", Short: "Sign, broadcast and wait for a transaction"}
	account := &cobra.Command{Use: "account", Short: "Account transactions"}
	register := &cobra.Command{
		Use:   "register PUBKEY_BASE64 --role doctor|patient --label TEXT --from KEY",
		Short: "Enrol a doctor or patient of your hospital (operators only)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pub, err := base64.StdEncoding.DecodeString(args[0])
			if err != nil {
				return fmt.Errorf("PUBKEY_BASE64: %v (get it with `medchain keys show NAME -o json`)", err)
			}
			roleName, _ := cmd.Flags().GetString("role")
			label, _ := cmd.Flags().GetString("label")
			role, ok := pb.Role_value["ROLE_"+strings.ToUpper(roleName)]
			if !ok {
				return fmt.Errorf("--role %q: use doctor or patient", roleName)
			}
			return sendTx(cmd, accounts.TypeRegister, &pb.RegisterAccount{Pubkey: pub, Role: pb.Role(role), Label: label})
		},
	}
	register.Flags().String("role", "", "doctor or patient")
	register.Flags().String("label", "", "short non-identifying label")
	account.AddCommand(register)

	memoc := &cobra.Command{Use: "memo", Short: "Memo transactions"}
	post := &cobra.Command{
		Use: "post TEXT --from KEY", Short: "Store a short note on the ledger", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return sendTx(cmd, memo.TypePost, &pb.PostMemo{Text: args[0]})
		},
	}
	memoc.AddCommand(post)

	for _, c := range []*cobra.Command{register, post} {
		c.Flags().String("from", "", "name of the signing key in the keyring")
		c.Flags().Duration("timeout", 30*time.Second, "how long to wait for the commit")
		addKeyringFlags(c)
		addNodeFlag(c)
		addOutputFlag(c)
		_ = c.MarkFlagRequired("from")
	}
	txc.AddCommand(account, memoc)
	return txc
}

// sendTx signs payload with --from, broadcasts it to --node and prints the
// committed result. A tx refused in the block is an error (exit code 3).
func sendTx(cmd *cobra.Command, txType string, payload proto.Message) error {
	from, _ := cmd.Flags().GetString("from")
	timeout, _ := cmd.Flags().GetDuration("timeout")
	kr, err := openKeyring(cmd)
	if err != nil {
		return err
	}
	priv, err := kr.Signer(from)
	if err != nil {
		return err
	}
	defer clear(priv)
	c, err := dial(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), timeout+10*time.Second)
	defer cancel()
	res, err := c.Send(ctx, priv, txType, payload, timeout)
	if err != nil {
		return err
	}
	view := map[string]any{"hash": res.Hash.String(), "height": res.Height, "code": res.Code, "log": res.Log, "events": res.Events}
	if err := output(cmd, view, func(w io.Writer) {
		if res.Code == 0 {
			fmt.Fprintf(w, "committed %s at height %d\n", res.Hash, res.Height)
		} else {
			fmt.Fprintf(w, "in block %d but refused: %s\n", res.Height, res.Log)
		}
		for _, e := range res.Events {
			fmt.Fprintf(w, "  event %s %v\n", e.Type, e.Attrs)
		}
	}); err != nil {
		return err
	}
	if res.Code != 0 {
		return &client.CodeError{Code: res.Code, Codespace: "medchain", Log: res.Log, Stage: "deliver"}
	}
	return nil
}
