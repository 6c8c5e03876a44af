package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

func newPatientCmd() *cobra.Command {
	pc := &cobra.Command{Use: "patient", Short: "Patients: enrolment, research consent, erasure"}

	enrol := signedCmd("enrol --from OPERATOR --pseudonym P [--key NAME [--consent in|out]]",
		"Enrol a patient at your hospital (operators only)",
		"the operator's key name",
		func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			from, _ := f.GetString("from")
			key, _ := f.GetString("key")
			consentName, _ := f.GetString("consent")
			pseudonym, err := checkFlag(cmd, "pseudonym", accepts(sharing.ParsePseudonym))
			if err != nil {
				return err
			}
			consent := pb.Consent_CONSENT_UNSPECIFIED
			if consentName != "" {
				if key == "" {
					return errors.New("--consent goes with a first enrolment (--key); a linked patient sets its own (medchain patient consent)")
				}
				if consent, err = parseFlag(cmd, "consent", sharing.ParseConsent); err != nil {
					return err
				}
			}
			if key != "" && key == from {
				return fmt.Errorf("--key %q is the operator's key; a patient has keys of its own", key)
			}
			return withEnrolment(cmd, key, key == "", func(ctx context.Context, sc *sharing.Client, e *enrolment) error {
				pat := e.person
				var (
					addr string
					err  error
				)
				if pat != nil {
					addr, err = sc.EnrolPatient(ctx, e.operator, pseudonym, pat.Public(), pat.SealPub, consent)
				} else {
					addr, err = sc.EnrolPatient(ctx, e.operator, pseudonym, nil, [32]byte{}, pb.Consent_CONSENT_UNSPECIFIED)
				}
				if err != nil {
					return err
				}
				view := map[string]any{"account": addr, "linked": pat == nil}
				if pat == nil {
					return e.reportf(cmd, view, "linked patient account %s to this hospital", addr)
				}
				return e.reportf(cmd, view, "enrolled patient account %s (key %q)", addr, key)
			})
		})
	enrol.Long = "With --key, a first enrolment: the patient's keys NAME and NAME-seal (created if absent) become\n" +
		"its account, and --consent records its research choice. Without --key, the pseudonym is already\n" +
		"enrolled at another hospital and is linked to yours."
	enrol.Flags().String("key", "", "first enrolment: the patient's key name (created with NAME-seal if absent)")
	enrol.Flags().String("pseudonym", "", "the patient's pseudonym (64 hex digits, from the hospital's relay)")
	enrol.Flags().String("consent", "", "first enrolment: research consent, in or out")
	requireFlags(enrol, "pseudonym")

	consent := signedCmd("consent in|out --from PATIENT", "Opt in to, or out of, research from the next block on",
		"the patient's key name",
		func(cmd *cobra.Command, args []string) error {
			c, err := sharing.ParseConsent(args[0])
			if err != nil {
				return err
			}
			return withPerson(cmd, func(ctx context.Context, sc *sharing.Client, pat *sharing.Identity) error {
				if err := sc.SetConsent(ctx, pat, c); err != nil {
					return err
				}
				choice := map[pb.Consent]string{pb.Consent_CONSENT_OPT_IN: "in", pb.Consent_CONSENT_OPT_OUT: "out"}[c]
				return reportf(cmd, map[string]any{"account": pat.Address(), "research": choice}, "research consent of %s: opted %s", pat.Address(), choice)
			})
		})
	consent.Args = cobra.ExactArgs(1)

	erase := signedCmd("erase --record R --from NAME",
		"Erase a record for good (its patient, or its custodian's operator): keys destroyed, reference kept",
		"the patient's (or the custodian operator's) key name",
		func(cmd *cobra.Command, _ []string) error {
			id, err := checkFlag(cmd, "record", accepts(sharing.ParseRecordID))
			if err != nil {
				return err
			}
			return withSigner(cmd, func(ctx context.Context, sc *sharing.Client, signer ed25519.PrivateKey) error {
				if err := sc.Erase(ctx, signer, id); err != nil {
					return err
				}
				return reportf(cmd, map[string]any{"record": id, "erased": true}, "record %s erased: its keys are gone from the chain; the custodian shreds its copy", id)
			})
		})
	erase.Flags().String("record", "", "record id (64 hex digits)")
	requireFlags(erase, "record")

	pc.AddCommand(enrol, consent, erase, newPseudonymCmd())
	return pc
}
