package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/sharing"
)

// gatewayFetch fetches ciphertexts from custodians' gateways for `record
// fetch` (tests may replace it).
var gatewayFetch sharing.GatewayFetcher = sharing.HTTPSGateway

// addSharingFlags registers the flags every sharing command has.
func addSharingFlags(c *cobra.Command) {
	c.Flags().Duration("timeout", 30*time.Second, "how long to wait for each tx's commit")
	c.Flags().Bool("prove", true, "verify every record, grant, key copy and gateway read against a header signed by >2/3 of the validators")
	addKeyringFlags(c)
	addNodeFlag(c)
	addOutputFlag(c)
}

// checkOutput refuses a bad --output before anything is sent.
func checkOutput(cmd *cobra.Command) error {
	switch o, _ := cmd.Flags().GetString("output"); o {
	case "text", "json", "":
		return nil
	default:
		return fmt.Errorf("--output %q: use text or json", o)
	}
}

// sharingClient dials --node and returns a sharing client and a context
// bounding the whole command.
func sharingClient(cmd *cobra.Command) (*sharing.Client, context.Context, context.CancelFunc, error) {
	timeout, _ := cmd.Flags().GetDuration("timeout")
	prove, _ := cmd.Flags().GetBool("prove")
	if timeout <= 0 {
		return nil, nil, nil, fmt.Errorf("--timeout %s: give a positive duration, e.g. 30s", timeout)
	}
	c, err := dial(cmd)
	if err != nil {
		return nil, nil, nil, err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*timeout+30*time.Second)
	sc, err := sharing.New(ctx, c, gatewayFetch)
	if err != nil {
		cancel()
		return nil, nil, nil, err
	}
	sc.Timeout, sc.Prove = timeout, prove
	return sc, ctx, cancel, nil
}

// openPeopleKeyring opens the keyring asking its passphrase at most once:
// a person's commands unlock (or create) two or three keys.
func openPeopleKeyring(cmd *cobra.Command) (*keyring.Keyring, error) {
	backend, _ := cmd.Flags().GetString("keyring-backend")
	return keyring.Open(filepath.Join(homeOf(cmd), "keyring"), backend, node.OncePassphrase(promptPassphrase))
}

// loadPerson unlocks the person --from names (its key and its seal key).
func loadPerson(cmd *cobra.Command) (*sharing.Identity, error) {
	from, _ := cmd.Flags().GetString("from")
	kr, err := openPeopleKeyring(cmd)
	if err != nil {
		return nil, err
	}
	return sharing.LoadIdentity(kr, from)
}

// loadSigner unlocks the signing key --from names.
func loadSigner(cmd *cobra.Command) (ed25519.PrivateKey, error) {
	from, _ := cmd.Flags().GetString("from")
	kr, err := openKeyring(cmd)
	if err != nil {
		return nil, err
	}
	return kr.Signer(from)
}

// protoJSON renders a state record for -o json.
func protoJSON(m proto.Message) jsonRaw {
	js, err := protojson.MarshalOptions{UseProtoNames: true, EmitUnpopulated: false}.Marshal(m)
	if err != nil {
		return jsonRaw(fmt.Sprintf("%q", err.Error()))
	}
	return jsonRaw(js)
}

func protoListJSON[M proto.Message](ms []M) []jsonRaw {
	out := make([]jsonRaw, 0, len(ms))
	for _, m := range ms {
		out = append(out, protoJSON(m))
	}
	return out
}

func fmtDate(d uint32) string {
	if d == 0 {
		return "-"
	}
	return fmt.Sprintf("%04d-%02d-%02d", d/10000, d/100%100, d%100)
}

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

func newRecordCmd() *cobra.Command {
	rc := &cobra.Command{Use: "record", Short: "Patients' records: list them, fetch and decrypt one, see who read it"}

	list := &cobra.Command{
		Use:   "list --patient PSEUDONYM",
		Short: "List every record about a patient, at every hospital",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			p, _ := cmd.Flags().GetString("patient")
			if _, err := sharing.ParsePseudonym(p); err != nil {
				return fmt.Errorf("--patient: %w", err)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			recs, err := sc.ListRecords(ctx, p)
			if err != nil {
				return err
			}
			return output(cmd, protoListJSON(recs), func(w io.Writer) {
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
			})
		},
	}
	list.Flags().String("patient", "", "the patient's pseudonym (64 hex digits)")
	_ = list.MarkFlagRequired("patient")

	fetch := &cobra.Command{
		Use:   "fetch (--access N | --id R --grant G --purpose P) --from DOCTOR --out FILE",
		Short: "Fetch a record from its custodian's gateway and decrypt it into FILE (0600)",
		Long: "With --access, fetch under an access entry already committed. With --id, --grant and --purpose,\n" +
			"first request access (an access.request tx the chain decides and logs), then fetch.\n" +
			"The ciphertext is checked against the record's on-chain content hash before decryption.",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
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
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			doc, err := loadPerson(cmd)
			if err != nil {
				return err
			}
			defer doc.Wipe()
			if id != "" {
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
			return output(cmd, view, func(w io.Writer) {
				fmt.Fprintf(w, "record %s (%s, %s, custodian %s) decrypted under access %d: %d bytes written to %s (mode 0600)\n",
					rec.Id, strings.Join(rec.ResourceTypes, ","), fmtDate(rec.Date), rec.Custodian, access, len(pt), out)
			})
		},
	}
	fetch.Flags().Uint64("access", 0, "an access entry of yours already on chain")
	fetch.Flags().String("id", "", "record id to request access to (64 hex digits)")
	fetch.Flags().Uint64("grant", 0, "with --id: the grant you read under")
	fetch.Flags().String("purpose", "treatment", "with --id: treatment, consultation or referral")
	fetch.Flags().String("from", "", "the doctor's key name (its seal key NAME-seal must be in the keyring too)")
	fetch.Flags().String("out", "", "file to write the decrypted record to (must not exist; created 0600)")
	_ = fetch.MarkFlagRequired("from")

	accesses := &cobra.Command{
		Use:   "accesses (--id R | --doctor ADDRESS)",
		Short: "List who read a record, or what a doctor read (access entries, break-glass included)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			id, _ := cmd.Flags().GetString("id")
			doctor, _ := cmd.Flags().GetString("doctor")
			if (id == "") == (doctor == "") {
				return errors.New("give --id R (a record's readers) or --doctor ADDRESS (a doctor's reads), one of the two")
			}
			if id != "" {
				if _, err := sharing.ParseRecordID(id); err != nil {
					return fmt.Errorf("--id: %w", err)
				}
			} else if _, err := sharing.ParseAddress(doctor); err != nil {
				return fmt.Errorf("--doctor: %w", err)
			}
			if err := checkOutput(cmd); err != nil {
				return err
			}
			sc, ctx, cancel, err := sharingClient(cmd)
			if err != nil {
				return err
			}
			defer cancel()
			var es []*pb.AccessEntry
			if id != "" {
				es, err = sc.Accesses(ctx, id)
			} else {
				es, err = sc.DoctorAccesses(ctx, doctor)
			}
			if err != nil {
				return err
			}
			return output(cmd, protoListJSON(es), func(w io.Writer) { printAccesses(w, es) })
		},
	}
	accesses.Flags().String("id", "", "record id (64 hex digits)")
	accesses.Flags().String("doctor", "", "doctor's address")

	for _, c := range []*cobra.Command{list, fetch, accesses} {
		addSharingFlags(c)
		rc.AddCommand(c)
	}
	return rc
}

func printAccesses(w io.Writer, es []*pb.AccessEntry) {
	if len(es) == 0 {
		fmt.Fprintln(w, "no access entries")
	}
	for _, e := range es {
		how := fmt.Sprintf("grant %d", e.Grant)
		if e.BreakGlass {
			how = "BREAK-GLASS"
			if e.Review != nil && e.Review.Open {
				how += " (review open)"
			} else if e.Review != nil {
				how += fmt.Sprintf(" (reviewed %s by %s)", strings.ToLower(strings.TrimPrefix(e.Review.Finding.String(), "FINDING_")), e.Review.Reviewer)
			}
		}
		fmt.Fprintf(w, "access %d  height %d  record %s (custodian %s)  doctor %s (%s)  %s  purpose %s",
			e.Id, e.Height, e.RecordId, e.Custodian, e.Doctor, e.DoctorHospital, how, sharing.PurposeName(e.Purpose))
		if e.Reason != "" {
			fmt.Fprintf(w, "  reason %q", e.Reason)
		}
		fmt.Fprintln(w)
	}
}
