package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/sharing"
)

// The sharing commands check every flag before they open the keyring or
// dial the node: these all fail without a network and change nothing.
func TestSharingCommandsRefuseBadFlagsClearly(t *testing.T) {
	home := t.TempDir()
	id := strings.Repeat("ab", 32)
	addr := "mc1" + strings.Repeat("0", 40)
	exists := filepath.Join(t.TempDir(), "exists.json")
	if err := os.WriteFile(exists, []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	common := []string{"--home", home, "--keyring-backend", "test", "--node", "http://127.0.0.1:1"}
	grant := func(extra ...string) []string {
		return append([]string{"grant", "create", "--from", "pat", "--to", addr, "--records", id, "--purpose", "treatment", "--expiry-blocks", "10"}, extra...)
	}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"doctor enrol without a label", []string{"doctor", "enrol", "--from", "operator", "--key", "dr"}, `"label" not set`},
		{"doctor enrol with a blank label", []string{"doctor", "enrol", "--from", "operator", "--key", "dr", "--label", "  "}, "--label is empty"},
		{"doctor enrol with the operator's key as the doctor's", []string{"doctor", "enrol", "--from", "operator", "--key", "operator", "--label", "x"}, "operator's key"},
		{"patient enrol with a name for a pseudonym", []string{"patient", "enrol", "--from", "operator", "--key", "p", "--pseudonym", "Jane Doe"}, "--pseudonym: pseudonym: want 64 lowercase hex digits, got 8 characters"},
		{"patient enrol linking with a consent", []string{"patient", "enrol", "--from", "operator", "--pseudonym", id, "--consent", "out"}, "--consent goes with a first enrolment"},
		{"patient enrol with an unknown consent", []string{"patient", "enrol", "--from", "operator", "--key", "p", "--pseudonym", id, "--consent", "maybe"}, "--consent: consent"},
		{"patient consent with an unknown choice", []string{"patient", "consent", "maybe", "--from", "p"}, "give in (opt in to research) or out"},
		{"patient consent without a key", []string{"patient", "consent", "in"}, `"from" not set`},
		{"patient erase with a bad record id", []string{"patient", "erase", "--record", "xyz", "--from", "p"}, "--record: record id: want 64 lowercase hex digits, got 3 characters"},
		{"record list with a short pseudonym", []string{"record", "list", "--patient", "abc"}, "--patient: pseudonym"},
		{"record fetch without an access or a record", []string{"record", "fetch", "--from", "dr", "--out", "x"}, "give --access N"},
		{"record fetch with an access and a record", []string{"record", "fetch", "--from", "dr", "--access", "1", "--id", id, "--out", "x"}, "not both"},
		{"record fetch of a record without a grant", []string{"record", "fetch", "--from", "dr", "--id", id, "--out", "x"}, "--grant is required"},
		{"record fetch for an emergency", []string{"record", "fetch", "--from", "dr", "--id", id, "--grant", "1", "--purpose", "emergency", "--out", "x"}, "break-glass only"},
		{"record fetch for a made-up purpose", []string{"record", "fetch", "--from", "dr", "--id", id, "--grant", "1", "--purpose", "curiosity", "--out", "x"}, "--purpose: purpose"},
		{"record fetch without --out", []string{"record", "fetch", "--from", "dr", "--access", "1"}, "--out is required"},
		{"record fetch over an existing file", []string{"record", "fetch", "--from", "dr", "--access", "1", "--out", exists}, "exists; choose a new file"},
		{"record fetch into a missing folder", []string{"record", "fetch", "--from", "dr", "--access", "1", "--out", filepath.Join(home, "nope", "r.json")}, "does not exist"},
		{"record fetch of access 0", []string{"record", "fetch", "--from", "dr", "--access", "0", "--out", "x"}, "access ids start at 1"},
		{"record accesses with both a record and a doctor", []string{"record", "accesses", "--id", id, "--doctor", addr}, "one of the two"},
		{"grant create to a name instead of an address", []string{"grant", "create", "--from", "pat", "--to", "alice", "--records", id, "--purpose", "treatment", "--expiry-blocks", "10"}, "--to: invalid address"},
		{"grant create with a bad record id", []string{"grant", "create", "--from", "pat", "--to", addr, "--records", id + ",zz", "--purpose", "treatment", "--expiry-blocks", "10"}, "--records: record id 2"},
		{"grant create with ids and types", grant("--types", "Observation"), "not both"},
		{"grant create without a scope", []string{"grant", "create", "--from", "pat", "--to", addr, "--purpose", "treatment", "--expiry-blocks", "10"}, "say what to share"},
		{"grant create for emergencies", []string{"grant", "create", "--from", "pat", "--to", addr, "--records", id, "--purpose", "emergency", "--expiry-blocks", "10"}, "breakglass request"},
		{"grant create without purposes", []string{"grant", "create", "--from", "pat", "--to", addr, "--records", id, "--expiry-blocks", "10"}, `"purpose" not set`},
		{"grant create without an expiry", []string{"grant", "create", "--from", "pat", "--to", addr, "--records", id, "--purpose", "treatment"}, "give --expiry-height H"},
		{"grant create with two expiries", grant("--expiry-height", "99"), "not both"},
		{"grant create with a lower-case type", []string{"grant", "create", "--from", "pat", "--to", addr, "--types", "observation", "--purpose", "treatment", "--expiry-blocks", "10"}, "--types: resource type"},
		{"grant create with an impossible date", []string{"grant", "create", "--from", "pat", "--to", addr, "--types", "Observation", "--from-date", "2025-02-30", "--purpose", "treatment", "--expiry-blocks", "10"}, "--from-date: date"},
		{"grant create with dates the wrong way round", []string{"grant", "create", "--from", "pat", "--to", addr, "--from-date", "2025-03-01", "--to-date", "2025-01-01", "--purpose", "treatment", "--expiry-blocks", "10"}, "is after --to-date"},
		{"grant create with an unknown output format", grant("-o", "yaml"), "--output"},
		{"grant create with no time to commit", grant("--timeout", "0s"), "--timeout"},
		{"grant forward of grant 0", []string{"grant", "forward", "--from", "dr", "--grant", "0", "--to", addr}, "--grant 0"},
		{"grant forward for minus one block", []string{"grant", "forward", "--from", "dr", "--grant", "3", "--to", addr, "--expiry-blocks", "-1"}, "--expiry-blocks -1"},
		{"grant revoke of a grant that is not a number", []string{"grant", "revoke", "--from", "p", "--grant", "x"}, `invalid argument "x" for "--grant"`},
		{"grant list of nobody", []string{"grant", "list"}, "one of the two"},
		{"grant list of a bad grantee", []string{"grant", "list", "--grantee", "bob"}, "--grantee: invalid address"},
		{"breakglass request without a reason", []string{"breakglass", "request", "--from", "dr", "--record", id, "--reason", " "}, "--reason is empty"},
		{"breakglass request of a bad record", []string{"breakglass", "request", "--from", "dr", "--record", "r1", "--reason", "x"}, "--record: record id"},
		{"breakglass review with an unknown finding", []string{"breakglass", "review", "--from", "rv", "--access", "4", "--finding", "maybe"}, "--finding: finding"},
		{"breakglass review of access 0", []string{"breakglass", "review", "--from", "rv", "--access", "0", "--finding", "justified"}, "--access 0"},
		{"breakglass list of a path-like hospital", []string{"breakglass", "list", "--hospital", "h1/../x"}, "--hospital: hospital id"},
		{"breakglass review with a note too long", []string{"breakglass", "review", "--from", "rv", "--access", "4", "--finding", "justified", "--note", strings.Repeat("n", 5000)}, "--note is 5000 bytes"},
		{"grant list of nobody, asking for either flag", []string{"grant", "list"}, "give --patient PSEUDONYM or --grantee ADDRESS, one of the two"},
		{"grant list of a patient and a grantee at once", []string{"grant", "list", "--patient", id, "--grantee", addr}, "one of the two"},
		{"grant list of a short pseudonym", []string{"grant", "list", "--patient", "abc"}, "--patient: pseudonym"},
		{"grant revoke of grant 0", []string{"grant", "revoke", "--from", "p", "--grant", "0"}, "--grant 0: give the id of the grant to revoke"},
		{"record accesses of nobody, asking for either flag", []string{"record", "accesses"}, "give --id R (a record's readers) or --doctor ADDRESS (a doctor's reads), one of the two"},
		{"record accesses of a bad doctor address", []string{"record", "accesses", "--doctor", "bob"}, "--doctor: invalid address"},
		{"record list of an empty pseudonym", []string{"record", "list", "--patient", ""}, "--patient: pseudonym"},
		{"patient consent with two choices", []string{"patient", "consent", "in", "out", "--from", "p"}, "accepts 1 arg(s), received 2"},
		{"breakglass list with an argument", []string{"breakglass", "list", "h1"}, `unknown command "h1"`},
	}
	for _, tc := range cases {
		t.Run(tc.name+" fails clearly", func(t *testing.T) {
			out, code := run(t, "", append(tc.args, common...)...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want non-zero and a message containing %q; got:\n%s", code, tc.want, out)
			}
			if strings.Contains(out, "Jane") {
				t.Fatalf("the message repeats a mistyped pseudonym:\n%s", out)
			}
			if strings.Contains(out, "127.0.0.1:1") {
				t.Fatalf("the command dialled the node before refusing its flags:\n%s", out)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(home, "keyring")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused command touched the keyring folder (%v)", err)
	}
}

// A tx the chain refuses exits with code 3: main finds the CodeError
// inside sharing's Refusal.
func TestARefusalIsAChainCodeError(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
	}{
		{"a refusal in a block", &sharing.Refusal{TxType: "access.request", Height: 9, Err: &client.CodeError{Code: 16, Log: "denied: revoked"}}},
		{"a CheckTx refusal with context", fmt.Errorf("grant.create: %w", &client.CodeError{Code: 10, Stage: "check"})},
	} {
		t.Run(tc.name+" unwraps to a CodeError", func(t *testing.T) {
			var ce *client.CodeError
			if !errors.As(tc.err, &ce) {
				t.Fatalf("%v does not unwrap to a *client.CodeError", tc.err)
			}
		})
	}
}

// Every sharing command has the common flags with their defaults, and
// exactly the required flags listed here: cobra refuses a call without them
// before the command runs.
func TestSharingCommandsHaveTheCommonFlagsAndTheirRequiredOnes(t *testing.T) {
	required := map[string][]string{
		"doctor enrol":       {"from", "key", "label"},
		"patient enrol":      {"from", "pseudonym"},
		"patient consent":    {"from"},
		"patient erase":      {"from", "record"},
		"record list":        {"patient"},
		"record fetch":       {"from"},
		"record accesses":    nil,
		"grant create":       {"from", "purpose", "to"},
		"grant forward":      {"from", "grant", "to"},
		"grant revoke":       {"from", "grant"},
		"grant list":         nil,
		"breakglass request": {"from", "reason", "record"},
		"breakglass review":  {"access", "finding", "from"},
		"breakglass list":    nil,
	}
	root := newRootCmd()
	seen := 0
	for _, group := range root.Commands() {
		switch group.Name() {
		case "doctor", "patient", "record", "grant", "breakglass":
		default:
			continue
		}
		for _, c := range group.Commands() {
			path := group.Name() + " " + c.Name()
			if path == "patient pseudonym" {
				continue // offline: reads an export and the pepper, never the chain
			}
			seen++
			t.Run(path+" has the common flags and its required ones", func(t *testing.T) {
				want, ok := required[path]
				if !ok {
					t.Fatalf("%s is a sharing command this test does not know; add it to the table", path)
				}
				f := c.Flags()
				if d, err := f.GetDuration("timeout"); err != nil || d != 30*time.Second {
					t.Errorf("--timeout default %v (%v), want 30s", d, err)
				}
				if p, err := f.GetBool("prove"); err != nil || !p {
					t.Errorf("--prove default %v (%v), want true", p, err)
				}
				if o := f.ShorthandLookup("o"); o == nil || o.Name != "output" || o.DefValue != "text" {
					t.Errorf("-o is %+v, want --output defaulting to text", o)
				}
				for _, n := range []string{"keyring-backend", "node"} {
					if f.Lookup(n) == nil {
						t.Errorf("no --%s", n)
					}
				}
				var got []string
				f.VisitAll(func(fl *pflag.Flag) {
					if len(fl.Annotations[cobra.BashCompOneRequiredFlag]) > 0 {
						got = append(got, fl.Name)
					}
				})
				slices.Sort(got)
				if !slices.Equal(got, want) {
					t.Errorf("required flags %v, want %v", got, want)
				}
			})
		}
	}
	if seen != len(required) {
		t.Fatalf("found %d sharing commands, the table has %d", seen, len(required))
	}
}
