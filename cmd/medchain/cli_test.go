package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/ingest"
	"github.com/medchain/medchain/node/vault"
)

var (
	binOnce sync.Once
	bin     string
	binErr  error
)

func medchain(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medchain-cli-")
		if err != nil {
			binErr = err
			return
		}
		bin = filepath.Join(dir, "medchain")
		if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
			binErr = errors.New(string(out))
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return bin
}

// run executes the CLI with stdin and returns stdout+stderr and the exit code.
func run(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(medchain(t), args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out.String(), code
}

func TestBadInputExitsNonZeroWithAClearMessage(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"start on a missing home", "", []string{"start", "--home", filepath.Join(dir, "nope")}, "medchain init"},
		{"init without a moniker", "", []string{"init", "--home", filepath.Join(dir, "h1")}, "moniker"},
		{"a query against no node", "", []string{"query", "/params", "--node", "http://127.0.0.1:1"}, "127.0.0.1:1"},
		{"a negative query height", "", []string{"query", "/params", "--height", "-1"}, "--height"},
		{"a tx from a key that does not exist", "", []string{"tx", "memo", "post", "hi", "--from", "ghost", "--home", dir, "--keyring-backend", "test"}, "ghost"},
		{"a tx with a bad pubkey", "", []string{"tx", "account", "register", "!!", "--role", "doctor", "--from", "x", "--home", dir}, "PUBKEY_BASE64"},
		{"an unknown output format", "", []string{"keys", "list", "--home", dir, "--keyring-backend", "test", "-o", "yaml"}, "--output"},
		{"a weak passphrase", "short\nshort\n", []string{"keys", "add", "weak", "--home", dir}, "8 characters"},
		{"a localnet without a base port", "", []string{"localnet", "--dir", filepath.Join(dir, "ln"), "--base-port", "0"}, "--base-port"},
		{"an unknown command", "", []string{"frobnicate"}, "unknown command"},
	}
	for _, tc := range cases {
		t.Run(tc.name+" fails clearly", func(t *testing.T) {
			out, code := run(t, tc.stdin, tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, want non-zero and a message containing %q; got:\n%s", code, tc.want, out)
			}
		})
	}
}

func TestKeysLifecycleWithAPassphrase(t *testing.T) {
	home := t.TempDir()
	const pass = "correct horse battery\n"
	out, code := run(t, pass+pass, "keys", "add", "alice", "--home", home, "-o", "json")
	if code != 0 || !strings.Contains(out, `"address": "mc1`) {
		t.Fatalf("add: %d %s", code, out)
	}
	if out, code = run(t, "", "keys", "list", "--home", home); code != 0 || !strings.Contains(out, "alice") {
		t.Fatalf("list: %d %s", code, out)
	}
	st, err := os.Stat(filepath.Join(home, "keyring", "alice.key"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", err, st)
	}
	t.Run("export then import under a new name keeps the address", func(t *testing.T) {
		exp := filepath.Join(t.TempDir(), "alice.export")
		if out, code := run(t, "export pass 123\nexport pass 123\n"+pass, "keys", "export", "alice", "--out", exp, "--home", home); code != 0 {
			t.Fatalf("export: %s", out)
		}
		out, code := run(t, "export pass 123\n"+pass+pass, "keys", "import", "alice2", exp, "--home", home, "-o", "json")
		if code != 0 {
			t.Fatalf("import: %s", out)
		}
		a1, _ := run(t, "", "keys", "show", "alice", "--address", "--home", home)
		a2, _ := run(t, "", "keys", "show", "alice2", "--address", "--home", home)
		if a1 != a2 || !strings.HasPrefix(a1, "mc1") {
			t.Fatalf("addresses differ: %q %q", a1, a2)
		}
	})
	t.Run("a wrong passphrase is refused before anything is sent", func(t *testing.T) {
		out, code := run(t, "wrong passphrase\n", "tx", "memo", "post", "hi", "--from", "alice", "--home", home, "--node", "http://127.0.0.1:1")
		if code == 0 || !strings.Contains(out, "wrong passphrase") {
			t.Fatalf("%d %s", code, out)
		}
	})
	t.Run("delete removes the key", func(t *testing.T) {
		if out, code := run(t, "", "keys", "delete", "alice2", "--home", home); code != 0 {
			t.Fatal(out)
		}
		if out, code := run(t, "", "keys", "show", "alice2", "--home", home); code == 0 {
			t.Fatalf("still there: %s", out)
		}
	})
}

func TestSynthIsDeterministicAndRefusesANonEmptyDir(t *testing.T) {
	a, b := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	for _, dir := range []string{a, b} {
		if out, code := run(t, "", "synth", "--hospitals", "2", "--patients", "50", "--seed", "9", "--out", dir); code != 0 {
			t.Fatalf("synth: %s", out)
		}
	}
	for _, f := range []string{"truth.json", "hospital0/patients.ndjson", "hospital1/observations.ndjson"} {
		x, err1 := os.ReadFile(filepath.Join(a, f))
		y, err2 := os.ReadFile(filepath.Join(b, f))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Fatalf("%s differs between two runs with the same seed (%v %v)", f, err1, err2)
		}
	}
	if out, code := run(t, "", "synth", "--hospitals", "2", "--patients", "50", "--seed", "9", "--out", a); code == 0 {
		t.Fatalf("synth into a non-empty dir succeeded: %s", out)
	}
}

func TestPepperGenerateImportFingerprint(t *testing.T) {
	dir := t.TempDir()
	file, home := filepath.Join(dir, "pepper"), filepath.Join(dir, "home")
	out, code := run(t, "", "pepper", "generate", "--out", file)
	if code != 0 || !strings.Contains(out, "fingerprint ") {
		t.Fatalf("generate: %d %s", code, out)
	}
	fp := out[strings.Index(out, "fingerprint ")+12:][:32]
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("pepper file: %v %v", fi.Mode(), err)
	}
	if out, code := run(t, "", "pepper", "import", file, "--home", home); code != 0 || !strings.Contains(out, fp) {
		t.Fatalf("import: %d %s", code, out)
	}
	if out, code := run(t, "", "pepper", "fingerprint", "--home", home); code != 0 || !strings.Contains(out, fp) {
		t.Fatalf("fingerprint: %d %s", code, out)
	}
	other := filepath.Join(dir, "other")
	if _, code := run(t, "", "pepper", "generate", "--out", other); code != 0 {
		t.Fatal("second generate")
	}
	notHex := filepath.Join(dir, "nothex")
	if err := os.WriteFile(notHex, []byte("this is not hex\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wide := filepath.Join(dir, "wide")
	if err := os.WriteFile(wide, []byte(strings.Repeat("ab", 32)+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"generate never replaces a file", []string{"pepper", "generate", "--out", file}, "file exists"},
		{"generate needs --out", []string{"pepper", "generate"}, "--out is required"},
		{"a different pepper is never imported over the home's", []string{"pepper", "import", other, "--home", home}, "different alliance pepper"},
		{"a file others may read is refused", []string{"pepper", "import", wide, "--home", filepath.Join(dir, "h2")}, "chmod 600"},
		{"a file that is not hex is refused", []string{"pepper", "import", notHex, "--home", filepath.Join(dir, "h3")}, "not hex"},
		{"a home without a pepper says how to get one", []string{"pepper", "fingerprint", "--home", filepath.Join(dir, "h4")}, "medchain pepper import"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, "", tc.args...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d, output %q, want an error containing %q", code, out, tc.want)
			}
		})
	}
}

func TestPatientPseudonymMatchesTheRelays(t *testing.T) {
	dir := t.TempDir()
	home, cohort := filepath.Join(dir, "home"), filepath.Join(dir, "cohort")
	if out, code := run(t, "", "pepper", "generate", "--out", filepath.Join(dir, "pepper")); code != 0 {
		t.Fatal(out)
	}
	if out, code := run(t, "", "pepper", "import", filepath.Join(dir, "pepper"), "--home", home); code != 0 {
		t.Fatal(out)
	}
	if out, code := run(t, "", "synth", "--hospitals", "1", "--patients", "3", "--seed", "4", "--out", cohort); code != 0 {
		t.Fatal(out)
	}
	file := filepath.Join(cohort, "hospital0", "patients.ndjson")
	out, code := run(t, "", "patient", "pseudonym", "--home", home, "--fhir", file, "-o", "json")
	var rows []struct {
		LocalID   string `json:"local_id"`
		Pseudonym string `json:"pseudonym"`
		KeyName   string `json:"key_name"`
	}
	if err := json.Unmarshal([]byte(out), &rows); code != 0 || err != nil || len(rows) != 3 {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	pepper, err := vault.LoadPepper(home)
	if err != nil {
		t.Fatal(err)
	}
	set, err := fhir.ReadFile(file, fhir.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	for i, p := range set.Patients {
		want, err := fhir.Pseudonym(pepper, fhir.IdentityOf(p), ingest.DefaultIdentity)
		if err != nil || rows[i].LocalID != p.ID || rows[i].Pseudonym != want || rows[i].KeyName != "p-"+want[:16] {
			t.Fatalf("row %d = %+v, want %s %s (%v)", i, rows[i], p.ID, want, err)
		}
		for _, id := range p.Identifier {
			if strings.Contains(out, id.Value) {
				t.Fatalf("the output shows identifier %q", id.Value)
			}
		}
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown local id is named", []string{"--fhir", file, "--id", "nope"}, `no Patient "nope"`},
		{"--fhir is required", nil, "--fhir is required"},
		{"a bad identity selector is refused", []string{"--fhir", file, "--identity", "shoe_size"}, "--identity"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, code := run(t, "", append([]string{"patient", "pseudonym", "--home", home}, tc.args...)...)
			if code == 0 || !strings.Contains(out, tc.want) {
				t.Fatalf("exit %d: %s", code, out)
			}
		})
	}
	if out, code := run(t, "", "patient", "pseudonym", "--home", filepath.Join(dir, "nohome"), "--fhir", file); code == 0 || !strings.Contains(out, "pepper") {
		t.Fatalf("a home without a pepper: exit %d: %s", code, out)
	}
}
