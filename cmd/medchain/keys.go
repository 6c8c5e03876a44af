package main

import (
	"encoding/base64"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/keyring"
)

func newKeysCmd() *cobra.Command {
	keys := &cobra.Command{Use: "keys", Short: "Manage the account keys in <home>/keyring (encrypted with a passphrase)"}
	keyView := func(k keyring.Key) map[string]any {
		return map[string]any{"name": k.Name, "address": k.Address, "pubkey": base64.StdEncoding.EncodeToString(k.PubKey), "created_at": k.CreatedAt}
	}
	printKey := func(w io.Writer, k keyring.Key) {
		fmt.Fprintf(w, "%-16s %s  pubkey %s\n", k.Name, k.Address, base64.StdEncoding.EncodeToString(k.PubKey))
	}
	add := &cobra.Command{
		Use: "add NAME", Short: "Create a new ed25519 key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			k, err := kr.Add(args[0])
			if err != nil {
				return err
			}
			return output(cmd, keyView(k), func(w io.Writer) { printKey(w, k) })
		},
	}
	list := &cobra.Command{
		Use: "list", Short: "List keys (no passphrase needed)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			ks, err := kr.List()
			if err != nil {
				return err
			}
			views := make([]map[string]any, 0, len(ks))
			for _, k := range ks {
				views = append(views, keyView(k))
			}
			return output(cmd, views, func(w io.Writer) {
				for _, k := range ks {
					printKey(w, k)
				}
			})
		},
	}
	show := &cobra.Command{
		Use: "show NAME", Short: "Show a key's address and public key", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			k, err := kr.Show(args[0])
			if err != nil {
				return err
			}
			if a, _ := cmd.Flags().GetBool("address"); a {
				fmt.Fprintln(cmd.OutOrStdout(), k.Address)
				return nil
			}
			return output(cmd, keyView(k), func(w io.Writer) { printKey(w, k) })
		},
	}
	show.Flags().Bool("address", false, "print the address only")
	del := &cobra.Command{
		Use: "delete NAME", Short: "Delete a key file", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			if err := kr.Delete(args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "deleted key %q\n", args[0])
			return nil
		},
	}
	export := &cobra.Command{
		Use: "export NAME --out FILE", Short: "Export a key encrypted under a new export passphrase", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return fmt.Errorf("--out is required")
			}
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "First the new export passphrase (twice), then the keyring passphrase.")
			exp, err := promptPassphrase(true)
			if err != nil {
				return err
			}
			data, err := kr.Export(args[0], exp)
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, data, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "exported key %q to %s\n", args[0], out)
			return nil
		},
	}
	export.Flags().String("out", "", "file to write (0600)")
	imp := &cobra.Command{
		Use: "import NAME FILE", Short: "Import a key exported with `keys export`", Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			data, err := os.ReadFile(args[1])
			if err != nil {
				return err
			}
			kr, err := openKeyring(cmd)
			if err != nil {
				return err
			}
			fmt.Fprintln(os.Stderr, "First the export passphrase, then the keyring passphrase (twice).")
			exp, err := promptPassphrase(false)
			if err != nil {
				return err
			}
			k, err := kr.Import(args[0], data, exp)
			if err != nil {
				return err
			}
			return output(cmd, keyView(k), func(w io.Writer) { printKey(w, k) })
		},
	}
	for _, c := range []*cobra.Command{add, list, show, del, export, imp} {
		addKeyringFlags(c)
		addOutputFlag(c)
		keys.AddCommand(c)
	}
	return keys
}
