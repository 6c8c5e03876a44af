package main

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/medchain/medchain/node/localnet"
)

func TestGovArgumentsAreParsedOrRefusedClearly(t *testing.T) {
	tests := []struct {
		name, id, choice string
		wantErr          string
		yes              bool
	}{
		{"yes is a yes vote", "3", "yes", "", true},
		{"NO in capitals is a no vote", "3", "NO", "", false},
		{"maybe is refused", "3", "maybe", "say yes or no", false},
		{"a proposal id of 0 is refused", "0", "yes", "from 1", false},
		{"a proposal id that is no number is refused", "x", "yes", "from 1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := parseGovVote(tt.id, tt.choice)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || v.Proposal != 3 || v.Yes != tt.yes {
				t.Fatalf("vote = %v, %v", v, err)
			}
		})
	}
	t.Run("set-params sets only the flags given", func(t *testing.T) {
		f := pflag.NewFlagSet("x", pflag.ContinueOnError)
		for _, p := range govParamFlags {
			f.Uint64(p.flag, 0, p.help)
		}
		if err := f.Parse([]string{"--threshold", "3", "--min-cohort", "0"}); err != nil {
			t.Fatal(err)
		}
		m, err := buildSetParams(f, nil)
		if err != nil {
			t.Fatal(err)
		}
		s := m.GetSetParams()
		if s.Threshold == nil || *s.Threshold != 3 || s.MinCohort == nil || *s.MinCohort != 0 || s.MaxTxBytes != nil {
			t.Fatalf("set_params = %v", s)
		}
	})
}

func TestGovBadInputIsRefusedBeforeAnythingIsSent(t *testing.T) {
	dir := t.TempDir()
	member := filepath.Join(dir, "m.json")
	if err := os.WriteFile(member, []byte(`{"id":"h9","bogus":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	node := []string{"--node", "http://127.0.0.1:1", "--home", dir, "--keyring-backend", "test"}
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a vote that is neither yes nor no", []string{"gov", "vote", "1", "perhaps"}, "yes or no"},
		{"admit without a member file", []string{"gov", "propose", "admit-hospital"}, "--member"},
		{"admit with a member file of unknown fields", []string{"gov", "propose", "admit-hospital", "--member", member}, "bogus"},
		{"register a researcher with a short key", []string{"gov", "propose", "register-researcher", base64.StdEncoding.EncodeToString(make([]byte, 31)), "--label", "x"}, "31 bytes"},
		{"grant budget without --rho", []string{"gov", "propose", "grant-budget", "mc1xyz"}, "--rho"},
		{"set-params that sets nothing", []string{"gov", "propose", "set-params"}, "at least one"},
		{"show of proposal 0", []string{"gov", "show", "0"}, "from 1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			args := append(tc.args, node...)
			if tc.args[1] == "show" { // reads no keyring
				args = append(tc.args, node[:2]...)
			}
			out, code := run(t, "", args...)
			if code != 1 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q; want exit 1 mentioning %q", code, out, tc.want)
			}
		})
	}
}

// TestGovOnAOneHospitalLocalnet: on a real one-validator alliance the
// operator's proposal is the whole electorate's yes, so it is executed in
// its own block; a later vote on it is refused by the chain (exit 3).
func TestGovOnAOneHospitalLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	m, err := localnet.Generate(localnet.Options{Dir: filepath.Join(t.TempDir(), "ln"), Validators: 1})
	if err != nil {
		t.Fatal(err)
	}
	c := localnet.NewCluster(medchain(t), m)
	if err := c.Start(0); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.StopAll(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			if log, err := os.ReadFile(c.LogPath(0)); err == nil {
				t.Logf("node log (tail):\n%s", log[max(0, len(log)-4000):])
			}
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// The node's HE worker signs with the operator key during the key
	// ceremony; once it is done, the CLI has the operator's nonces alone.
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	at := []string{"--home", m.Nodes[0].Home, "--keyring-backend", "test", "--node", m.Nodes[0].RPC}
	cli := func(args ...string) (string, int) {
		t.Helper()
		if args[1] == "show" || args[1] == "list" {
			return run(t, "", append(args, at[4:]...)...)
		}
		return run(t, "", append(args, at...)...)
	}
	seed := sha256.Sum256([]byte("gov cli auditor"))
	auditor := base64.StdEncoding.EncodeToString(ed25519.NewKeyFromSeed(seed[:]).Public().(ed25519.PublicKey))
	out, code := cli("gov", "propose", "register-auditor", auditor, "--label", "audit office", "--reason", "yearly audit")
	if code != 0 || !strings.Contains(out, "gov.executed") {
		t.Fatalf("propose: exit %d\n%s", code, out)
	}
	out, code = cli("gov", "show", "1", "-o", "json")
	var p struct {
		Status   string   `json:"status"`
		Action   string   `json:"action"`
		Yes      []string `json:"yes"`
		Reason   string   `json:"reason"`
		Electors []string `json:"electorate"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &p) != nil || p.Status != "executed" || p.Action != "register-account" || len(p.Yes) != 1 || p.Reason != "yearly audit" {
		t.Fatalf("show: exit %d %+v\n%s", code, p, out)
	}
	if out, code = cli("gov", "vote", "1", "yes"); code != 3 || !strings.Contains(out, "voting_closed") {
		t.Fatalf("vote on an executed proposal: exit %d\n%s", code, out)
	}
	if out, code = cli("gov", "list"); code != 0 || !strings.Contains(out, "executed") {
		t.Fatalf("list: exit %d\n%s", code, out)
	}
	if out, code = cli("gov", "show", "7"); code != 1 || !strings.Contains(out, "no proposal 7") {
		t.Fatalf("show of a missing proposal: exit %d\n%s", code, out)
	}
}
