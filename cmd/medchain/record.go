package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node/sharing"
)

// checkOutFile refuses an --out that exists or whose folder does not, so
// no access is spent on a fetch that cannot be saved.
func checkOutFile(path string) error {
	if path == "" {
		return errors.New("--out is required: the file to write the decrypted record to (created 0600)")
	}
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("--out %s exists; choose a new file (a decrypted record never overwrites one)", path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("--out %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return fmt.Errorf("--out %s: folder %s does not exist", path, dir)
	}
	return nil
}

// writePrivate writes data to a new file with mode 0600.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if _, err := f.Write(data); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("--out %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		_ = f.Close()
		_ = os.Remove(path)
		return fmt.Errorf("--out %s: %w", path, err)
	}
	return f.Close()
}

// printRecords lists a patient's records one a line.
func printRecords(w io.Writer, recs []*pb.Record) {
	if len(recs) == 0 {
		fmt.Fprintln(w, "no records")
	}
	for _, r := range recs {
		state := ""
		if r.Erased {
			state = fmt.Sprintf("  ERASED at height %d", r.ErasedHeight)
		}
		fmt.Fprintf(w, "%s  custodian %s  %s  date %s  %d bytes  height %d%s\n",
			r.Id, r.Custodian, strings.Join(r.ResourceTypes, ","), fmtDate(r.Date), r.Size, r.Height, state)
	}
}

func newRecordCmd() *cobra.Command {
	rc := &cobra.Command{Use: "record", Short: "Patients' records: list them, fetch and decrypt one, see who read it"}

	list := listCmd("list --patient PSEUDONYM", "List every record about a patient, at every hospital", printRecords,
		listing[*pb.Record]{flag: "patient", usage: "the patient's pseudonym (64 hex digits)", check: accepts(sharing.ParsePseudonym), list: (*sharing.Client).ListRecords})
	requireFlags(list, "patient")

	fetch := signedCmd("fetch (--access N | --id R --grant G --purpose P) --from DOCTOR --out FILE",
		"Fetch a record from its custodian's gateway and decrypt it into FILE (0600)",
		"the doctor's key name (its seal key NAME-seal must be in the keyring too)",
		func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			access, _ := f.GetUint64("access")
			id, _ := f.GetString("id")
			grant, _ := f.GetUint64("grant")
			purposeName, _ := f.GetString("purpose")
			out, _ := f.GetString("out")
			var purpose pb.Purpose
			switch {
			case f.Changed("access") && (id != "" || f.Changed("grant")):
				return errors.New("give --access N, or --id R with --grant G, not both")
			case f.Changed("access"):
				if access == 0 {
					return errors.New("--access 0: access ids start at 1")
				}
			case id != "":
				if _, err := sharing.ParseRecordID(id); err != nil {
					return fmt.Errorf("--id: %w", err)
				}
				if grant == 0 {
					return errors.New("--grant is required with --id: the grant you read under (medchain grant list --grantee ADDR); emergencies use `medchain breakglass request`")
				}
				p, err := sharing.ParsePurpose(purposeName)
				if err != nil {
					return fmt.Errorf("--purpose: %w", err)
				}
				if p == pb.Purpose_PURPOSE_EMERGENCY {
					return errors.New("--purpose emergency is break-glass only: use `medchain breakglass request`, then `record fetch --access N`")
				}
				purpose = p
			default:
				return errors.New("give --access N (an access entry you hold) or --id R --grant G --purpose P")
			}
			if err := checkOutFile(out); err != nil {
				return err
			}
			return withPerson(cmd, func(ctx context.Context, sc *sharing.Client, doc *sharing.Identity) error {
				if id != "" {
					var err error
					if access, err = sc.RequestAccess(ctx, doc, id, grant, purpose); err != nil {
						return err
					}
					fmt.Fprintf(cmd.ErrOrStderr(), "access %d granted for record %s\n", access, id)
				}
				pt, rec, err := sc.Fetch(ctx, doc, access)
				if err != nil {
					return fmt.Errorf("access %d: %w", access, err)
				}
				defer clear(pt)
				if err := writePrivate(out, pt); err != nil {
					return err
				}
				view := map[string]any{"access": access, "record": rec.Id, "custodian": rec.Custodian, "resource_types": rec.ResourceTypes,
					"date": fmtDate(rec.Date), "bytes": len(pt), "out": out}
				return reportf(cmd, view, "record %s (%s, %s, custodian %s) decrypted under access %d: %d bytes written to %s (mode 0600)",
					rec.Id, strings.Join(rec.ResourceTypes, ","), fmtDate(rec.Date), rec.Custodian, access, len(pt), out)
			})
		})
	fetch.Long = "With --access, fetch under an access entry already committed. With --id, --grant and --purpose,\n" +
		"first request access (an access.request tx the chain decides and logs), then fetch.\n" +
		"The ciphertext is checked against the record's on-chain content hash before decryption."
	fetch.Flags().Uint64("access", 0, "an access entry of yours already on chain")
	fetch.Flags().String("id", "", "record id to request access to (64 hex digits)")
	fetch.Flags().Uint64("grant", 0, "with --id: the grant you read under")
	fetch.Flags().String("purpose", "treatment", "with --id: treatment, consultation or referral")
	fetch.Flags().String("out", "", "file to write the decrypted record to (must not exist; created 0600)")

	accesses := listCmd("accesses (--id R | --doctor ADDRESS)",
		"List who read a record, or what a doctor read (access entries, break-glass included)", printAccesses,
		listing[*pb.AccessEntry]{flag: "id", usage: "record id (64 hex digits)", give: "--id R (a record's readers)", check: accepts(sharing.ParseRecordID), list: (*sharing.Client).Accesses},
		listing[*pb.AccessEntry]{flag: "doctor", usage: "doctor's address", give: "--doctor ADDRESS (a doctor's reads)", check: accepts(sharing.ParseAddress), list: (*sharing.Client).DoctorAccesses})

	rc.AddCommand(list, fetch, accesses)
	return rc
}
