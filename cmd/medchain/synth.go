package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/node/synth"
)

func newSynthCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "synth --hospitals N --patients P --seed S --out DIR",
		Short: "Write a deterministic synthetic cohort (FHIR R4 NDJSON per hospital) and truth.json",
		Long: "Writes DIR/hospital<i>/{patients,encounters,conditions,observations}.ndjson and DIR/truth.json,\n" +
			"the exact statistics research queries over those files must reproduce (node/synth/TRUTH.md).\n" +
			"P is the number of home patients per hospital; about 3% of them are also seen at one other hospital.\n" +
			"The same flags always give byte-identical files. DIR must be empty or absent.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			hospitals, _ := f.GetInt("hospitals")
			patients, _ := f.GetInt("patients")
			seed, _ := f.GetInt64("seed")
			out, _ := f.GetString("out")
			refText, _ := f.GetString("ref-date")
			if out == "" {
				return fmt.Errorf("--out is required: an empty or absent folder")
			}
			ref, err := time.Parse(time.DateOnly, refText)
			if err != nil {
				return fmt.Errorf("--ref-date %q: want YYYY-MM-DD", refText)
			}
			if err := synth.CheckOutDir(out); err != nil {
				return err
			}
			d, err := synth.Generate(synth.Options{Hospitals: hospitals, Patients: patients, Seed: seed, RefDate: ref})
			if err != nil {
				return err
			}
			s, err := d.Write(out)
			if err != nil {
				return err
			}
			return output(cmd, s, func(w io.Writer) {
				fmt.Fprintf(w, "wrote %d files (%d bytes) to %s: %d hospitals, %d patient records of %d persons "+
					"(%d seen at two hospitals, %d consenting), %d encounters, %d conditions, %d observations; "+
					"truth.json sha256 %s\n",
					len(s.Files), s.Bytes, s.Dir, s.Hospitals, s.PatientRecords, s.Persons,
					s.SharedPersons, s.ConsentingPersons, s.Encounters, s.Conditions, s.Observations, s.TruthSHA256)
			})
		},
	}
	cmd.Flags().Int("hospitals", 3, fmt.Sprintf("number of hospitals (1 to %d)", synth.MaxHospitals))
	cmd.Flags().Int("patients", 1000, fmt.Sprintf("home patients per hospital (1 to %d)", synth.MaxPatients))
	cmd.Flags().Int64("seed", 1, "random seed: the same seed gives the same files")
	cmd.Flags().String("out", "", "output folder, empty or absent (required)")
	cmd.Flags().String("ref-date", synth.DefaultRefDate.Format(time.DateOnly), "reference date of the data (ages, censoring)")
	addOutputFlag(cmd)
	return cmd
}
