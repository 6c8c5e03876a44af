package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/sharing"
)

func newDoctorCmd() *cobra.Command {
	dc := &cobra.Command{Use: "doctor", Short: "Doctors of your hospital"}
	enrol := &cobra.Command{
		Use:   "enrol --from OPERATOR --key NAME --label LABEL [--emergency] [--reviewer]",
		Short: "Enrol a doctor of your hospital (operators only); its keys NAME and NAME-seal are created if absent",
		Long: "Enrols the doctor whose keys NAME (signing) and NAME-seal (sealing: record keys are sealed to it)\n" +
			"are in this keyring, creating both if NAME does not exist. The keyring passphrase is asked once\n" +
			"for the operator's and the doctor's keys. The label is a short staff label, never a name.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			key, _ := f.GetString("key")
			label, _ := f.GetString("label")
			from, _ := f.GetString("from")
			emergency, _ := f.GetBool("emergency")
			reviewer, _ := f.GetBool("reviewer")
			if strings.TrimSpace(label) == "" {
				return errors.New("--label is empty: give a short non-identifying staff label, e.g. cardiology-04")
			}
			if key == from {
				return fmt.Errorf("--key %q is the operator's key; a doctor has keys of its own", key)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			kr, err := openPeopleKeyring(cmd)
			if err != nil {
				return err
			}
			doc, created, err := sharing.LoadOrCreateIdentity(kr, key)
			if err != nil {
				return err
			}
			defer doc.Wipe()
			op, err := kr.Signer(from)
			if err != nil {
				return err
			}
			defer clear(op)
			addr, err := sc.EnrolDoctor(ctx, op, sharing.DoctorEnrolment{Pub: doc.Public(), SealPub: doc.SealPub, Label: label, Emergency: emergency, Reviewer: reviewer})
			if err != nil {
				return err
			}
			view := map[string]any{"key": key, "address": addr, "seal_pubkey": hex.EncodeToString(doc.SealPub[:]),
				"keys_created": created, "emergency": emergency, "reviewer": reviewer, "label": label}
			return output(cmd, view, func(w io.Writer) {
				if created {
					fmt.Fprintf(w, "created keys %q and %q\n", key, key+sharing.SealSuffix)
				}
				fmt.Fprintf(w, "enrolled doctor %s (key %q, label %q, emergency %v, reviewer %v)\n", addr, key, label, emergency, reviewer)
			})
		},
	}
	enrol.Flags().String("from", "", "the operator's key name")
	enrol.Flags().String("key", "", "the doctor's key name (created with NAME-seal if absent)")
	enrol.Flags().String("label", "", "short non-identifying staff label")
	enrol.Flags().Bool("emergency", false, "may break the glass (read without a grant, always reviewed)")
	enrol.Flags().Bool("reviewer", false, "reviews break-glass reads of this hospital's records")
	for _, n := range []string{"from", "key", "label"} {
		_ = enrol.MarkFlagRequired(n)
	}
	addSharingFlags(enrol)
	dc.AddCommand(enrol)
	return dc
}
