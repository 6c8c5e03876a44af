package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/vault"
)

// newPseudonymCmd: a hospital tells a patient its pseudonym (the id every
// record about it carries on chain) and the name of the keys the relay
// made for it. It reads the hospital's own export and the home's pepper,
// never the chain, and prints no identity field.
func newPseudonymCmd() *cobra.Command {
	c := &cobra.Command{
		Use:   "pseudonym --fhir FILE [--id LOCAL_ID] [--identity F,...]",
		Short: "Print the pseudonym of a patient of your export (computed with this home's alliance pepper)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			file, _ := f.GetString("fhir")
			id, _ := f.GetString("id")
			identity, _ := f.GetStringSlice("identity")
			if file == "" {
				return fmt.Errorf("--fhir is required: the export file holding the Patient")
			}
			if err := fhir.ParseIdentitySelectors(identity); err != nil {
				return fmt.Errorf("--identity: %w", err)
			}
			pepper, err := vault.LoadPepper(homeOf(cmd))
			if err != nil {
				return err
			}
			set, err := fhir.ReadFile(file, fhir.Limits{})
			if err != nil {
				return err
			}
			type row struct {
				LocalID   string `json:"local_id"`
				Pseudonym string `json:"pseudonym"`
				KeyName   string `json:"key_name"`
			}
			var rows []row
			for _, p := range set.Patients {
				if id != "" && p.ID != id {
					continue
				}
				ps, err := fhir.Pseudonym(pepper, fhir.IdentityOf(p), identity)
				if err != nil {
					return fmt.Errorf("Patient/%s: %w", p.ID, err)
				}
				rows = append(rows, row{p.ID, ps, "p-" + ps[:16]})
			}
			if id != "" && len(rows) == 0 {
				return fmt.Errorf("no Patient %q in %s", id, file)
			}
			slices.SortFunc(rows, func(a, b row) int {
				if a.LocalID < b.LocalID {
					return -1
				}
				if a.LocalID > b.LocalID {
					return 1
				}
				return 0
			})
			return output(cmd, rows, func(w io.Writer) {
				for _, r := range rows {
					fmt.Fprintf(w, "%s  %s  keys %s\n", r.LocalID, r.Pseudonym, r.KeyName)
				}
			})
		},
	}
	c.Flags().String("fhir", "", "an export file (.ndjson or a Bundle) with the Patient resources")
	c.Flags().String("id", "", "only this Patient's local id")
	c.Flags().StringSlice("identity", ingest.DefaultIdentity, "identity fields of the pseudonym, as given to medchain ingest")
	addOutputFlag(c)
	return c
}
