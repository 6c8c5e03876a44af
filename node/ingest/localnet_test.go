package ingest_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/node/chainrpc"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/node/vault"
)

// TestIngestOnALocalnetSurvivesKills runs `medchain ingest` as its own
// process against a real single-validator localnet and kills it (exit 137,
// as SIGKILL) at chosen points of the read and the push phase: every rerun
// ends with exactly the export on chain, every vault ciphertext decrypting
// with the custodian key to its resource.
func TestIngestOnALocalnetSurvivesKills(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a validator")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	bin := testenv.MedchainBinary(t)
	m, err := localnet.Generate(localnet.Options{Dir: filepath.Join(t.TempDir(), "net"), Validators: 1, ChainID: "medchain-ingest-e2e"})
	if err != nil {
		t.Fatal(err)
	}
	home := m.Nodes[0].Home
	// The alliance pepper: the one Generate wrote, or a new one.
	pepper, err := vault.LoadPepper(home)
	if errors.Is(err, os.ErrNotExist) {
		if pepper, err = vault.GeneratePepper(); err == nil {
			err = vault.WritePepper(home, pepper)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	cluster := localnet.NewCluster(bin, m)
	t.Cleanup(func() {
		if err := cluster.StopAll(); err != nil {
			t.Errorf("stop: %v", err)
		}
		if t.Failed() {
			raw, _ := os.ReadFile(cluster.LogPath(0))
			if len(raw) > 3000 {
				raw = raw[len(raw)-3000:]
			}
			t.Logf("---- node log tail ----\n%s", raw)
		}
	})
	if err := cluster.StartAll(); err != nil {
		t.Fatal(err)
	}
	if _, err := cluster.WaitHeight(ctx, 0, 2); err != nil {
		t.Fatal(err)
	}
	// The HE worker signs its ceremony txs with the operator key ingest uses.
	if err := cluster.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	cl, err := client.Dial(m.Nodes[0].RPC)
	if err != nil {
		t.Fatal(err)
	}
	chain := chainrpc.Chain{C: cl.RPC()}
	hospital := m.Nodes[0].HospitalID
	cohort, _ := ingest.WriteCohort(t, 2, 6, 3)
	patients := ingest.DefaultPatientKeyringDir(home)
	exp0 := ingest.ExpectFrom(t, hospital, pepper, filepath.Join(cohort, "hospital0"))
	// A second export (hospital1 of the synthetic alliance) imported by the
	// same hospital later: new local ids, one person already enrolled.
	exp1 := ingest.ExpectFrom(t, hospital, pepper, filepath.Join(cohort, "hospital1"))

	run := func(t *testing.T, crash string, args ...string) (string, int) {
		t.Helper()
		cmd := exec.CommandContext(ctx, bin, append([]string{"ingest", "--home", home, "--keyring-backend", "test", "--node", m.Nodes[0].RPC}, args...)...)
		cmd.Env = os.Environ()
		if crash != "" {
			cmd.Env = append(cmd.Env, ingest.CrashEnv+"="+crash)
		}
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		var ee *exec.ExitError
		switch {
		case errors.As(err, &ee):
			return out.String(), ee.ExitCode()
		case err != nil:
			t.Fatal(err)
		}
		return out.String(), 0
	}
	sequence := func(t *testing.T) uint64 {
		t.Helper()
		acc, err := cl.Account(ctx, m.Nodes[0].OperatorAddress)
		if err != nil || acc == nil {
			t.Fatalf("operator account: %v", err)
		}
		return acc.Sequence
	}
	mustExit := func(t *testing.T, want int, out string, code int) {
		t.Helper()
		if code != want {
			t.Fatalf("exit code %d, want %d; output:\n%s", code, want, out)
		}
	}

	t.Run("a read killed after the vault and then inside the spool loses and duplicates nothing", func(t *testing.T) {
		seq := sequence(t)
		out, code := run(t, "vault:4", "--fhir", filepath.Join(cohort, "hospital0"), "--phased")
		mustExit(t, 137, out, code)
		out, code = run(t, "read:9", "--fhir", filepath.Join(cohort, "hospital0"), "--phase", "read")
		mustExit(t, 137, out, code)
		if got := sequence(t); got != seq {
			t.Fatalf("the read phase sent %d txs", got-seq)
		}
		out, code = run(t, "", "--fhir", filepath.Join(cohort, "hospital0"), "--phased", "-o", "json")
		mustExit(t, 0, out, code)
		if !strings.Contains(out, `"records_encrypted"`) || !strings.Contains(out, fmt.Sprintf(`"spool_records": %d`, exp0.Records())) {
			t.Fatalf("summary:\n%s", out)
		}
		ingest.VerifyImported(t, ctx, chain, home, exp0, patients)
	})

	t.Run("a push killed after broadcasting and then after committing loses and duplicates nothing", func(t *testing.T) {
		spool := filepath.Join(t.TempDir(), "spool")
		out, code := run(t, "", "--fhir", filepath.Join(cohort, "hospital1"), "--phase", "read", "--spool", spool)
		mustExit(t, 0, out, code)
		// Small record.import txs (3 steps) in small batches (2 txs), so
		// each kill lands mid-import.
		out, code = run(t, "push:3", "--phase", "push", "--spool", spool, "--batch", "2", "--steps-per-tx", "3")
		mustExit(t, 137, out, code)
		out, code = run(t, "commit:3", "--phase", "push", "--spool", spool, "--batch", "2", "--steps-per-tx", "3")
		mustExit(t, 137, out, code)
		out, code = run(t, "", "--phase", "push", "--spool", spool)
		mustExit(t, 0, out, code)
		ingest.VerifyImported(t, ctx, chain, home, exp1, patients)
		ingest.VerifyImported(t, ctx, chain, home, exp0, patients)
		seq := sequence(t)
		out, code = run(t, "", "--fhir", filepath.Join(cohort, "hospital1"), "--spool", spool)
		mustExit(t, 0, out, code)
		if got := sequence(t); got != seq {
			t.Fatalf("a rerun sent %d txs:\n%s", got-seq, out)
		}
	})

	t.Run("a malformed export is refused and nothing is sent", func(t *testing.T) {
		dir := t.TempDir()
		cases := []struct {
			name, file, content, says string
		}{
			{"a wrong resourceType", "a.ndjson", `{"resourceType":"MedicationRequest","id":"m1"}`, `resourceType "MedicationRequest" is not supported`},
			{"a resource without an id", "b.ndjson", `{"resourceType":"Patient","gender":"female"}`, "field id: required"},
			{"a huge line", "c.ndjson", `{"resourceType":"Patient","id":"p1","name":[{"family":"` + strings.Repeat("x", 2<<20) + `"}]}`, "line longer than"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				path := filepath.Join(dir, tc.file)
				if err := os.WriteFile(path, []byte(tc.content+"\n"), 0o600); err != nil {
					t.Fatal(err)
				}
				seq := sequence(t)
				spool := filepath.Join(dir, "spool-"+tc.file)
				out, code := run(t, "", "--fhir", path, "--spool", spool)
				mustExit(t, 1, out, code)
				if !strings.Contains(out, tc.says) || !strings.Contains(out, path) {
					t.Fatalf("output does not name the file and the problem %q:\n%.600s", tc.says, out)
				}
				if got := sequence(t); got != seq {
					t.Fatalf("%d txs were sent", got-seq)
				}
				if _, err := os.Stat(spool); !errors.Is(err, os.ErrNotExist) {
					t.Fatalf("a spool was written: %v", err)
				}
			})
		}
	})
}
