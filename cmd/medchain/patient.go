package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

func newPatientCmd() *cobra.Command {
	pc := &cobra.Command{Use: "patient", Short: "Patients: enrolment, research consent, erasure"}

	enrol := &cobra.Command{
		Use:   "enrol --from OPERATOR --pseudonym P [--key NAME [--consent in|out]]",
		Short: "Enrol a patient at your hospital (operators only)",
		Long: "With --key, a first enrolment: the patient's keys NAME and NAME-seal (created if absent) become\n" +
			"its account, and --consent records its research choice. Without --key, the pseudonym is already\n" +
			"enrolled at another hospital and is linked to yours.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			from, _ := f.GetString("from")
			key, _ := f.GetString("key")
			pseudonym, _ := f.GetString("pseudonym")
			consentName, _ := f.GetString("consent")
			if _, err := sharing.ParsePseudonym(pseudonym); err != nil {
				return fmt.Errorf("--pseudonym: %w", err)
			}
			consent := pb.Consent_CONSENT_UNSPECIFIED
			if consentName != "" {
				if key == "" {
					return errors.New("--consent goes with a first enrolment (--key); a linked patient sets its own (medchain patient consent)")
				}
				c, err := sharing.ParseConsent(consentName)
				if err != nil {
					return fmt.Errorf("--consent: %w", err)
				}
				consent = c
			}
			if key != "" && key == from {
				return fmt.Errorf("--key %q is the operator's key; a patient has keys of its own", key)
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
			var (
				pat     *sharing.Identity
				created bool
			)
			if key != "" {
				if pat, created, err = sharing.LoadOrCreateIdentity(kr, key); err != nil {
					return err
				}
				defer pat.Wipe()
			}
			op, err := kr.Signer(from)
			if err != nil {
				return err
			}
			defer clear(op)
			var addr string
			if pat != nil {
				addr, err = sc.EnrolPatient(ctx, op, pseudonym, pat.Public(), pat.SealPub, consent)
			} else {
				addr, err = sc.EnrolPatient(ctx, op, pseudonym, nil, [32]byte{}, pb.Consent_CONSENT_UNSPECIFIED)
			}
			if err != nil {
				return err
			}
			view := map[string]any{"account": addr, "key": key, "keys_created": created, "linked": pat == nil}
			if pat != nil {
				view["seal_pubkey"] = hex.EncodeToString(pat.SealPub[:])
			}
			return output(cmd, view, func(w io.Writer) {
				if created {
					fmt.Fprintf(w, "created keys %q and %q\n", key, key+sharing.SealSuffix)
				}
				if pat == nil {
					fmt.Fprintf(w, "linked patient account %s to this hospital\n", addr)
				} else {
					fmt.Fprintf(w, "enrolled patient account %s (key %q)\n", addr, key)
				}
			})
		},
	}
	enrol.Flags().String("from", "", "the operator's key name")
	enrol.Flags().String("key", "", "first enrolment: the patient's key name (created with NAME-seal if absent)")
	enrol.Flags().String("pseudonym", "", "the patient's pseudonym (64 hex digits, from the hospital's relay)")
	enrol.Flags().String("consent", "", "first enrolment: research consent, in or out")
	_ = enrol.MarkFlagRequired("from")
	_ = enrol.MarkFlagRequired("pseudonym")

	consent := &cobra.Command{
		Use:   "consent in|out --from PATIENT",
		Short: "Opt in to, or out of, research from the next block on",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := sharing.ParseConsent(args[0])
			if err != nil {
				return err
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			pat, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer pat.Wipe()
			if err := sc.SetConsent(ctx, pat, c); err != nil {
				return err
			}
			choice := map[pb.Consent]string{pb.Consent_CONSENT_OPT_IN: "in", pb.Consent_CONSENT_OPT_OUT: "out"}[c]
			return output(cmd, map[string]any{"account": pat.Address(), "research": choice}, func(w io.Writer) {
				fmt.Fprintf(w, "research consent of %s: opted %s\n", pat.Address(), choice)
			})
		},
	}
	consent.Flags().String("from", "", "the patient's key name")
	_ = consent.MarkFlagRequired("from")

	erase := &cobra.Command{
		Use:   "erase --record R --from NAME",
		Short: "Erase a record for good (its patient, or its custodian's operator): keys destroyed, reference kept",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, _ := cmd.Flags().GetString("record")
			if _, err := sharing.ParseRecordID(id); err != nil {
				return fmt.Errorf("--record: %w", err)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			signer, err := loadSigner(cmd)
			if err != nil {
				return err
			}
			defer clear(signer)
			if err := sc.Erase(ctx, signer, id); err != nil {
				return err
			}
			return output(cmd, map[string]any{"record": id, "erased": true}, func(w io.Writer) {
				fmt.Fprintf(w, "record %s erased: its keys are gone from the chain; the custodian shreds its copy\n", id)
			})
		},
	}
	erase.Flags().String("record", "", "record id (64 hex digits)")
	erase.Flags().String("from", "", "the patient's (or the custodian operator's) key name")
	_ = erase.MarkFlagRequired("record")
	_ = erase.MarkFlagRequired("from")

	for _, c := range []*cobra.Command{enrol, consent, erase} {
		addSharingFlags(c)
		pc.AddCommand(c)
	}
	return pc
}
