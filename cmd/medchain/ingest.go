package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/keyring"
)

func newIngestCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "ingest --fhir PATH... [--phased | --phase read|push] [--spool DIR] [--patient-keyring DIR] [--identity F,...] [--node URL]",
		Short: "Import a hospital's FHIR export: pseudonymise, encrypt into the vault, enrol patients and register records",
		Long: "Reads a FHIR R4 export (NDJSON files, Bundles, or folders of them: Patient, Encounter, Condition,\n" +
			"Observation), derives each patient's pseudonym from the alliance pepper, encrypts one record per\n" +
			"Encounter, Condition and Observation under a fresh data key into this home's vault, and registers the\n" +
			"records on chain (patient.enrol, record.register), signed by the operator key. No identifying field\n" +
			"leaves the hospital: only pseudonyms, record ids, hashes and sealed keys.\n\n" +
			"Two phases, resumable after a crash from the spool (--spool): read (source → vault + spool; no\n" +
			"network) and push (spool → chain; no source). --phased runs read, closes every source file, then\n" +
			"dials the node: the relay is never connected to both. --phase read / --phase push run one phase, so\n" +
			"the relay can be disconnected in between. Without either, the node is checked first, then both\n" +
			"phases run. Rerunning never duplicates a record: record ids derive from the hospital and the\n" +
			"resource id, and both phases skip what the vault or the chain already holds.\n\n" +
			"New patients get a signing key p-<first 16 hex of the pseudonym> and a seal key …-seal in\n" +
			"--patient-keyring. The home keyring's passphrase is asked first, then the patient keyring's (or give\n" +
			"files: --keyring-passphrase-file, --patient-passphrase-file).",
		Args: cobra.NoArgs,
		RunE: runIngest,
	}
	f := cmd.Flags()
	f.StringSlice("fhir", nil, "FHIR export files (.ndjson, .json Bundle) or folders of them; repeat or separate with commas (required for reading)")
	f.Bool("phased", false, "read everything and close the source before dialling the node (never connected to both)")
	f.String("phase", "", "run one phase only: read (no network) or push (no source)")
	f.String("spool", "", "spool folder (default <home>/data/ingest-spool)")
	f.String("patient-keyring", "", "keyring folder for new patient identities (default <home>/patients/keyring, so --home <home>/patients signs as them)")
	f.StringSlice("identity", ingest.DefaultIdentity, "identity fields of the pseudonym: national_id, insurance, name, phone, each optionally :firstN or :lastN; the same in every hospital")
	f.String("hospital", "", "this home's hospital id (default: the genesis member whose operator key this home holds)")
	f.String("keyring-passphrase-file", "", "file holding the home keyring passphrase (mode 0600; env "+passphraseFileEnv+")")
	f.String("patient-passphrase-file", "", "file holding the patient keyring passphrase (mode 0600)")
	f.Int("batch", ingest.DefaultBatchSize, fmt.Sprintf("txs sent before waiting for their commit (1 to %d)", ingest.MaxBatchSize))
	f.Duration("timeout", ingest.DefaultCommitTimeout, "how long to wait for one batch to commit")
	f.Int("steps-per-tx", ingest.DefaultStepsPerTx, fmt.Sprintf("enrolments and record registrations per record.import tx (1 to %d; 1 sends each as its own tx)", records.MaxImportItems))
	addNodeFlag(cmd)
	addKeyringFlags(cmd)
	addOutputFlag(cmd)
	return cmd
}

func runIngest(cmd *cobra.Command, _ []string) error {
	f := cmd.Flags()
	phased, _ := f.GetBool("phased")
	phase, _ := f.GetString("phase")
	switch {
	case phase != "" && phase != "read" && phase != "push":
		return fmt.Errorf("--phase %q: use read or push", phase)
	case phase != "" && phased:
		return errors.New("give --phased (both phases, one after the other) or --phase read|push (one phase), not both")
	}
	o := ingest.Options{Home: homeOf(cmd), Logger: stderrLogger{cmd.ErrOrStderr()}}
	o.Files, _ = f.GetStringSlice("fhir")
	o.Identity, _ = f.GetStringSlice("identity")
	o.SpoolDir, _ = f.GetString("spool")
	o.PatientKeyringDir, _ = f.GetString("patient-keyring")
	o.Hospital, _ = f.GetString("hospital")
	o.KeyringBackend, _ = f.GetString("keyring-backend")
	o.BatchSize, _ = f.GetInt("batch")
	o.CommitTimeout, _ = f.GetDuration("timeout")
	o.StepsPerTx, _ = f.GetInt("steps-per-tx")
	if o.StepsPerTx == 0 {
		return fmt.Errorf("--steps-per-tx 0: use 1 to %d", records.MaxImportItems)
	}
	if o.BatchSize == 0 {
		return fmt.Errorf("--batch 0: use 1 to %d", ingest.MaxBatchSize)
	}
	passFile, _ := f.GetString("keyring-passphrase-file")
	if passFile == "" {
		passFile = os.Getenv(passphraseFileEnv)
	}
	patientPassFile, _ := f.GetString("patient-passphrase-file")
	if o.KeyringBackend == keyring.BackendFile {
		// Asked once for both phases.
		o.Passphrase = node.OncePassphrase(startPassphrase(passFile))
		o.PatientPassphrase = node.OncePassphrase(func(confirm bool) (string, error) {
			if patientPassFile != "" {
				return readPassphraseFile(patientPassFile)
			}
			fmt.Fprintln(os.Stderr, "Patient keyring:")
			return promptPassphrase(confirm)
		})
	}
	if phase != "push" && len(o.Files) == 0 {
		return errors.New("--fhir is required: the FHIR export files or folders to read")
	}
	ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var chain ingest.Chain
	connect := func() error {
		c, err := dial(cmd)
		if err != nil {
			return err
		}
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		if _, err := c.Status(cctx); err != nil {
			return err
		}
		chain = chainrpc.Chain{C: c.RPC()}
		return nil
	}
	// Without --phased the node is checked before the source is opened, so a
	// wrong --node fails before any work.
	if phase == "" && !phased {
		if err := connect(); err != nil {
			return err
		}
	}
	out := struct {
		Read *ingest.ReadSummary `json:"read,omitempty"`
		Push *ingest.PushSummary `json:"push,omitempty"`
	}{}
	if phase != "push" {
		sum, err := ingest.Read(ctx, o)
		if err != nil {
			return err
		}
		out.Read = sum
	}
	if phase != "read" {
		if chain == nil {
			if err := connect(); err != nil {
				return err
			}
		}
		sum, err := ingest.Push(ctx, o, chain)
		if err != nil {
			return err
		}
		out.Push = sum
	}
	return output(cmd, out, func(w io.Writer) {
		if r := out.Read; r != nil {
			fmt.Fprintf(w, "read: hospital %s, %d files: %d patients, %d records; %d records encrypted into the vault, %d recovered from it, %d already spooled, %d erased (skipped); spool holds %d patients, %d records\n",
				r.Hospital, r.Files, r.Patients, r.Records, r.RecordsEncrypted, r.RecordsRecovered, r.RecordsSpooled, r.RecordsErased, r.SpoolPatients, r.SpoolRecords)
		}
		if p := out.Push; p != nil {
			fmt.Fprintf(w, "push: hospital %s: %d patients enrolled, %d linked, %d already; %d records registered (%d resealed to keys enrolled elsewhere), %d already; %d txs in %d batches, height %d\n",
				p.Hospital, p.PatientsEnrolled, p.PatientsLinked, p.PatientsAlready, p.RecordsRegistered, p.RecordsResealed, p.RecordsAlready, p.Txs, p.Batches, p.Height)
		}
	})
}

// stderrLogger prints the relay's progress lines (counts, heights and ids
// only) as "msg k=v ...".
type stderrLogger struct{ w io.Writer }

func (l stderrLogger) Info(msg string, kv ...any) {
	var b strings.Builder
	b.WriteString(msg)
	for i := 0; i+1 < len(kv); i += 2 {
		fmt.Fprintf(&b, " %v=%v", kv[i], kv[i+1])
	}
	fmt.Fprintln(l.w, b.String())
}
