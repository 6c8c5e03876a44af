package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/vault"
)

// newPepperCmd: the alliance pepper, the one secret every member's node
// holds so that the same person gets the same pseudonym at every hospital.
// One member generates it, hands it to the others out of band (never
// through the chain), and each imports it into its home; members compare
// fingerprints, never the pepper.
func newPepperCmd() *cobra.Command {
	pc := &cobra.Command{
		Use:   "pepper",
		Short: "The alliance pepper: generate it once, import it into every member's home",
	}
	gen := &cobra.Command{
		Use:   "generate --out FILE",
		Short: "Write a new random alliance pepper to FILE (mode 0600; never replaces a file)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			out, _ := cmd.Flags().GetString("out")
			if out == "" {
				return errors.New("--out is required: the new file to write the pepper to")
			}
			p, err := vault.GeneratePepper()
			if err != nil {
				return err
			}
			if err := vault.WritePepperFile(out, p); err != nil {
				return err
			}
			return printFingerprint(cmd, out, p)
		},
	}
	gen.Flags().String("out", "", "new file to write (mode 0600)")
	imp := &cobra.Command{
		Use:   "import FILE",
		Short: "Install the alliance pepper from FILE into this home (config/pepper)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := vault.ReadPepperFile(args[0])
			if err != nil {
				return err
			}
			if err := vault.WritePepper(homeOf(cmd), p); err != nil {
				return err
			}
			return printFingerprint(cmd, vault.PepperPath(homeOf(cmd)), p)
		},
	}
	show := &cobra.Command{
		Use:   "fingerprint",
		Short: "Print the fingerprint of this home's pepper, to compare with the other members'",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, err := vault.LoadPepper(homeOf(cmd))
			if err != nil {
				return err
			}
			return printFingerprint(cmd, vault.PepperPath(homeOf(cmd)), p)
		},
	}
	for _, c := range []*cobra.Command{gen, imp, show} {
		addOutputFlag(c)
	}
	pc.AddCommand(gen, imp, show)
	return pc
}

// pepperFingerprint identifies a pepper without revealing it: SHA-256 of a
// domain string and the pepper, first 16 bytes.
func pepperFingerprint(p []byte) string {
	h := sha256.Sum256(append([]byte("medchain/pepper-fingerprint/v1\x00"), p...))
	return hex.EncodeToString(h[:16])
}

func printFingerprint(cmd *cobra.Command, path string, p []byte) error {
	fp := pepperFingerprint(p)
	return output(cmd, map[string]string{"file": path, "fingerprint": fp}, func(w io.Writer) {
		fmt.Fprintf(w, "pepper %s\nfingerprint %s (compare it with every other member's; never send the pepper through the chain)\n", path, fp)
	})
}
