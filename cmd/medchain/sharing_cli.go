package main

// What every record-sharing command (doctor, patient, record, grant,
// breakglass) shares. A command first checks all its own flags, opening
// nothing; then it runs its action in a session: --output checked, the node
// dialled, the keys it signs with unlocked, and wiped when the action returns.

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"fmt"
	"io"
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

// sharingCmd builds a sharing command that takes no arguments, with the
// flags every sharing command has (--timeout, --prove, --keyring-backend,
// --node, --output). run checks the command's own flags, then calls one of
// the with* session helpers below.
func sharingCmd(use, short string, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	c := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs, RunE: run}
	c.Flags().Duration("timeout", 30*time.Second, "how long to wait for each tx's commit")
	c.Flags().Bool("prove", true, "verify every record, grant, key copy and gateway read against a header signed by >2/3 of the validators")
	addKeyringFlags(c)
	addNodeFlag(c)
	addOutputFlag(c)
	return c
}

// signedCmd is sharingCmd for a command someone signs: it adds the
// required --from, the signer's key name (usage says whose).
func signedCmd(use, short, usage string, run func(cmd *cobra.Command, args []string) error) *cobra.Command {
	c := sharingCmd(use, short, run)
	c.Flags().String("from", "", usage)
	_ = c.MarkFlagRequired("from")
	return c
}

// requireFlags marks the flags a command cannot run without.
func requireFlags(c *cobra.Command, names ...string) {
	for _, n := range names {
		_ = c.MarkFlagRequired(n)
	}
}

// accepts turns a sharing parser into a check of what was typed.
func accepts[T any](parse func(string) (T, error)) func(string) error {
	return func(s string) error {
		_, err := parse(s)
		return err
	}
}

// checkFlag returns the string flag name as typed, once check accepts it;
// the error names the flag.
func checkFlag(cmd *cobra.Command, name string, check func(string) error) (string, error) {
	s, _ := cmd.Flags().GetString(name)
	if err := check(s); err != nil {
		return "", fmt.Errorf("--%s: %w", name, err)
	}
	return s, nil
}

// parseFlag returns the string flag name parsed by parse; the error names
// the flag.
func parseFlag[T any](cmd *cobra.Command, name string, parse func(string) (T, error)) (T, error) {
	s, _ := cmd.Flags().GetString(name)
	v, err := parse(s)
	if err != nil {
		return v, fmt.Errorf("--%s: %w", name, err)
	}
	return v, nil
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

// withClient checks --output and --timeout, dials --node and runs do with a
// sharing client and a context bounding the whole command. Call it once the
// command's own flags are checked: nothing before it touches the network or
// the keyring.
func withClient(cmd *cobra.Command, do func(ctx context.Context, sc *sharing.Client) error) error {
	if err := checkOutput(cmd); err != nil {
		return err
	}
	timeout, _ := cmd.Flags().GetDuration("timeout")
	prove, _ := cmd.Flags().GetBool("prove")
	if timeout <= 0 {
		return fmt.Errorf("--timeout %s: give a positive duration, e.g. 30s", timeout)
	}
	c, err := dial(cmd)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(cmd.Context(), 2*timeout+30*time.Second)
	defer cancel()
	sc, err := sharing.New(ctx, c, gatewayFetch)
	if err != nil {
		return err
	}
	sc.Timeout, sc.Prove = timeout, prove
	return do(ctx, sc)
}

// openPeopleKeyring opens the keyring asking its passphrase at most once:
// a person's commands unlock (or create) two or three keys.
func openPeopleKeyring(cmd *cobra.Command) (*keyring.Keyring, error) {
	backend, _ := cmd.Flags().GetString("keyring-backend")
	return keyring.Open(filepath.Join(homeOf(cmd), "keyring"), backend, node.OncePassphrase(promptPassphrase))
}

// asPerson unlocks the person --from names (its key NAME and seal key
// NAME-seal), runs do, and wipes the keys.
func asPerson(cmd *cobra.Command, do func(who *sharing.Identity) error) error {
	from, _ := cmd.Flags().GetString("from")
	kr, err := openPeopleKeyring(cmd)
	if err != nil {
		return err
	}
	who, err := sharing.LoadIdentity(kr, from)
	if err != nil {
		return err
	}
	defer who.Wipe()
	return do(who)
}

// withPerson runs do in a session signed by the person --from names.
func withPerson(cmd *cobra.Command, do func(ctx context.Context, sc *sharing.Client, who *sharing.Identity) error) error {
	return withClient(cmd, func(ctx context.Context, sc *sharing.Client) error {
		return asPerson(cmd, func(who *sharing.Identity) error { return do(ctx, sc, who) })
	})
}

// withSigner runs do in a session signed by the one key --from names (a
// patient's, a reviewer's or an operator's); the key is wiped after.
func withSigner(cmd *cobra.Command, do func(ctx context.Context, sc *sharing.Client, signer ed25519.PrivateKey) error) error {
	return withClient(cmd, func(ctx context.Context, sc *sharing.Client) error {
		from, _ := cmd.Flags().GetString("from")
		kr, err := openKeyring(cmd)
		if err != nil {
			return err
		}
		signer, err := kr.Signer(from)
		if err != nil {
			return err
		}
		defer clear(signer)
		return do(ctx, sc, signer)
	})
}

// enrolment is what an operator's enrol command signs with: the operator's
// key and, unless it links a patient enrolled at another hospital, the keys
// of the person it enrols.
type enrolment struct {
	operator ed25519.PrivateKey
	person   *sharing.Identity // nil when linking
	key      string            // the person's key name
	created  bool              // this command made the person's keys
}

// reportf shows an enrolment: view, with the person's key name, whether
// its keys were made and its seal public key, as JSON with -o json; else
// the keys made, if any, and one line of text.
func (e *enrolment) reportf(cmd *cobra.Command, view map[string]any, format string, args ...any) error {
	view["key"], view["keys_created"] = e.key, e.created
	if e.person != nil {
		view["seal_pubkey"] = hex.EncodeToString(e.person.SealPub[:])
	}
	return output(cmd, view, func(w io.Writer) {
		if e.created {
			fmt.Fprintf(w, "created keys %q and %q\n", e.key, e.key+sharing.SealSuffix)
		}
		fmt.Fprintf(w, format, args...)
		fmt.Fprintln(w)
	})
}

// withEnrolment runs do in a session with an enrolment. The keyring is
// opened once (one passphrase) for the person's keys key and key-seal,
// loaded or created when absent (none when linkOnly), then for the
// operator's key --from; all are wiped after.
func withEnrolment(cmd *cobra.Command, key string, linkOnly bool, do func(ctx context.Context, sc *sharing.Client, e *enrolment) error) error {
	return withClient(cmd, func(ctx context.Context, sc *sharing.Client) error {
		kr, err := openPeopleKeyring(cmd)
		if err != nil {
			return err
		}
		e := &enrolment{key: key}
		if !linkOnly {
			if e.person, e.created, err = sharing.LoadOrCreateIdentity(kr, key); err != nil {
				return err
			}
			defer e.person.Wipe()
		}
		from, _ := cmd.Flags().GetString("from")
		if e.operator, err = kr.Signer(from); err != nil {
			return err
		}
		defer clear(e.operator)
		return do(ctx, sc, e)
	})
}

// listing is one way a list command finds chain entries: by the value of
// one string flag, checked before anything is dialled.
type listing[M proto.Message] struct {
	flag, usage string
	give        string // how the either-or error asks for this flag
	check       func(string) error
	list        func(sc *sharing.Client, ctx context.Context, key string) ([]M, error)
}

// listCmd builds a command listing chain entries of one kind, printed by
// show, or as a JSON array with -o json. With one listing its flag's value
// (maybe empty) is checked and listed by; with two, exactly one of their
// flags must be given.
func listCmd[M proto.Message](use, short string, show func(io.Writer, []M), ways ...listing[M]) *cobra.Command {
	either := func() error {
		gives := make([]string, len(ways))
		for i, l := range ways {
			gives[i] = l.give
		}
		return fmt.Errorf("give %s, one of the two", strings.Join(gives, " or "))
	}
	c := sharingCmd(use, short, func(cmd *cobra.Command, _ []string) error {
		var by *listing[M]
		for i := range ways {
			if v, _ := cmd.Flags().GetString(ways[i].flag); v != "" || len(ways) == 1 {
				if by != nil {
					return either()
				}
				by = &ways[i]
			}
		}
		if by == nil {
			return either()
		}
		key, err := checkFlag(cmd, by.flag, by.check)
		if err != nil {
			return err
		}
		return withClient(cmd, func(ctx context.Context, sc *sharing.Client) error {
			ms, err := by.list(sc, ctx, key)
			if err != nil {
				return err
			}
			return output(cmd, protoListJSON(ms), func(w io.Writer) { show(w, ms) })
		})
	})
	for _, l := range ways {
		c.Flags().String(l.flag, "", l.usage)
	}
	return c
}

// reportf prints view as JSON with -o json, else one line of text.
func reportf(cmd *cobra.Command, view any, format string, args ...any) error {
	return output(cmd, view, func(w io.Writer) {
		fmt.Fprintf(w, format, args...)
		fmt.Fprintln(w)
	})
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

// printAccesses lists access entries (a record's readers, a doctor's reads,
// open break-glass reviews) one a line.
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
