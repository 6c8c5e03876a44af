package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/sharing"
)

func newDoctorCmd() *cobra.Command {
	dc := &cobra.Command{Use: "doctor", Short: "Doctors of your hospital"}
	enrol := signedCmd("enrol --from OPERATOR --key NAME --label LABEL [--emergency] [--reviewer]",
		"Enrol a doctor of your hospital (operators only); its keys NAME and NAME-seal are created if absent",
		"the operator's key name",
		func(cmd *cobra.Command, _ []string) error {
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
			return withEnrolment(cmd, key, false, func(ctx context.Context, sc *sharing.Client, e *enrolment) error {
				doc := e.person
				addr, err := sc.EnrolDoctor(ctx, e.operator, sharing.DoctorEnrolment{Pub: doc.Public(), SealPub: doc.SealPub, Label: label, Emergency: emergency, Reviewer: reviewer})
				if err != nil {
					return err
				}
				return e.reportf(cmd, map[string]any{"address": addr, "emergency": emergency, "reviewer": reviewer, "label": label},
					"enrolled doctor %s (key %q, label %q, emergency %v, reviewer %v)", addr, key, label, emergency, reviewer)
			})
		})
	enrol.Long = "Enrols the doctor whose keys NAME (signing) and NAME-seal (sealing: record keys are sealed to it)\n" +
		"are in this keyring, creating both if NAME does not exist. The keyring passphrase is asked once\n" +
		"for the operator's and the doctor's keys. The label is a short staff label, never a name."
	enrol.Flags().String("key", "", "the doctor's key name (created with NAME-seal if absent)")
	enrol.Flags().String("label", "", "short non-identifying staff label")
	enrol.Flags().Bool("emergency", false, "may break the glass (read without a grant, always reviewed)")
	enrol.Flags().Bool("reviewer", false, "reviews break-glass reads of this hospital's records")
	requireFlags(enrol, "key", "label")
	dc.AddCommand(enrol)
	return dc
}
