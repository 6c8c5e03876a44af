package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/genesis"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/hework"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/localnet"
	"github.com/medchain/medchain/node/report"
)

// TestResearchBadInputIsRefusedBeforeAnythingIsSent: every refusal below
// happens before the CLI reads a secret or talks to a node (the node
// address is a closed port), exits 1 and says what to change.
func TestResearchBadInputIsRefusedBeforeAnythingIsSent(t *testing.T) {
	home := t.TempDir()
	noNode := "--node=http://127.0.0.1:1"
	submit := func(text string, extra ...string) []string {
		return append([]string{"research", "submit", text, "--from", "alice", "--he-key", "alice", "--home", home, "--keyring-backend", "test", noNode}, extra...)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"a query with an unknown statistic", submit("SELECT median(age)", "--rho", "0.5"), "unknown statistic"},
		{"a query with an unknown field", submit("SELECT mean(weight)", "--rho", "0.5"), "want a field: age, hba1c, bmi or sbp"},
		{"a query with unclosed quotes", submit("SELECT count() WHERE condition = 'E11", "--rho", "0.5"), "no closing '"},
		{"a query with descending histogram edges", submit("SELECT histogram(age; 40, 18)", "--rho", "0.5"), "strictly ascending"},
		{"a query repeating a statistic", submit("SELECT count(), count()", "--rho", "0.5"), "repeats statistic 1"},
		{"a query that is not SELECT", submit("DELETE FROM patients", "--rho", "0.5"), "want SELECT"},
		{"a rho that is not a number", submit("SELECT count()", "--rho", "half"), "not a decimal number"},
		{"a negative rho", submit("SELECT count()", "--rho", "-0.5"), "outside 0 to"},
		{"a rho given as a fraction", submit("SELECT count()", "--rho", "1/2"), "not a decimal number"},
		{"both rho and epsilon", submit("SELECT count()", "--rho", "0.5", "--epsilon", "1"), "not both"},
		{"an epsilon of zero", submit("SELECT count()", "--epsilon", "0"), "ε 0 must be above 0"},
		{"an epsilon that is not a number", submit("SELECT count()", "--epsilon", "NaN"), "ε NaN"},
		{"an epsilon that does not parse", submit("SELECT count()", "--epsilon", "lots"), `invalid argument "lots" for "--epsilon"`},
		{"a delta of one", submit("SELECT count()", "--epsilon", "1", "--delta", "1"), "δ 1 must be strictly between 0 and 1"},
		{"a delta without epsilon", submit("SELECT count()", "--rho", "1", "--delta", "1e-9"), "--delta goes with --epsilon"},
		{"an unknown output format", submit("SELECT count()", "--rho", "1", "-o", "yaml"), "--output"},
		{"a bad HE key name", submit("SELECT count()", "--rho", "1", "--he-key", "Alice Smith"), "--he-key"},
		{"a submit without an HE key", []string{"research", "submit", "SELECT count()", "--from", "alice", "--rho", "1", noNode}, "--he-key is required"},
		{"a plaintext-baseline submit with an HE key", submit("SELECT count()", "--plaintext-baseline"), "--plaintext-baseline takes no --he-key"},
		{"a status of a query id that is not a number", []string{"research", "status", "seven", noNode}, "want a number such as 7"},
		{"a result of query 0", []string{"research", "result", "0", "--he-key", "alice", noNode}, "want a number such as 7"},
		{"a plot that is not SVG", []string{"research", "result", "3", "--he-key", "alice", "--plot", "km.png", noNode}, "*.svg"},
		{"a keygen without a name", []string{"research", "keygen", "--home", home, "--keyring-backend", "test"}, "--name is required"},
		{"a keygen still asking for a secret key file", []string{"research", "keygen", "--out", filepath.Join(home, "alice.he"), "--home", home}, "no longer writes a key file"},
		{"a keygen with a bad name", []string{"research", "keygen", "--name", "../alice", "--home", home, "--keyring-backend", "test"}, "--name"},
		{"a budget without a researcher", []string{"research", "budget", noNode}, "--researcher ADDR or --from KEY"},
		{"a list with a bad address", []string{"research", "list", "--researcher", "mc1xyz", noNode}, "--researcher"},
		{"a list with both an address and a key", []string{"research", "list", "--researcher", "mc1" + strings.Repeat("a", 40), "--from", "alice", noNode}, "not both"},
		{"a status against no node", []string{"research", "status", "7", noNode}, "127.0.0.1:1"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" is refused with exit 1", func(t *testing.T) {
			out, code := run(t, "", tt.args...)
			if code != 1 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want 1 and a message containing %q; got:\n%s", code, tt.want, out)
			}
		})
	}
	if entries, err := os.ReadDir(filepath.Join(home, "keyring")); err == nil && len(entries) > 0 {
		t.Fatalf("refused commands left files in the keyring: %v", entries)
	}
}

// TestResearchKeygenSealsThePairInTheKeyring: the pair is passphrase-
// sealed data (0600, no key material in clear), a name is never reused,
// and --out writes the public key only.
func TestResearchKeygenSealsThePairInTheKeyring(t *testing.T) {
	home := t.TempDir()
	pubFile := filepath.Join(t.TempDir(), "alice.pub")
	const pass = "correct horse battery\n"
	out, code := run(t, pass+pass, "research", "keygen", "--name", "alice", "--out", pubFile, "--home", home, "-o", "json")
	if code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	var view struct {
		Hash  string `json:"public_key_sha256"`
		Bytes int    `json:"public_key_bytes"`
	}
	if err := json.Unmarshal([]byte(out), &view); err != nil || view.Bytes == 0 {
		t.Fatalf("%v: %s", err, out)
	}
	sealed := filepath.Join(home, "keyring", "alice.he.secret")
	fi, err := os.Stat(sealed)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sealed key: %v %v", fi, err)
	}
	raw, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(pubFile)
	if err != nil {
		t.Fatal(err)
	}
	if h := sha256.Sum256(pub); fmt.Sprintf("%x", h) != view.Hash || len(pub) != view.Bytes {
		t.Fatalf("the public key file does not match the key's hash %s", view.Hash)
	}
	for _, clear := range []string{"secret_key", "public_key", "medchain-researcher-he-key"} {
		if bytes.Contains(raw, []byte(clear)) {
			t.Fatalf("the sealed file shows %q in clear", clear)
		}
	}
	t.Run("a second key of the same name is refused", func(t *testing.T) {
		out, code := run(t, pass+pass, "research", "keygen", "--name", "alice", "--home", home)
		if code != 1 || !strings.Contains(out, "already exists") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
	t.Run("an existing --out file is never overwritten", func(t *testing.T) {
		out, code := run(t, pass+pass, "research", "keygen", "--name", "bob", "--out", pubFile, "--home", home)
		if code != 1 || !strings.Contains(out, "exists") {
			t.Fatalf("exit %d: %s", code, out)
		}
		if _, err := os.Stat(filepath.Join(home, "keyring", "bob.he.secret")); err == nil {
			t.Fatal("the refused keygen stored a key")
		}
	})
	t.Run("with no node, submit stops before it reads any secret", func(t *testing.T) {
		if out, code := run(t, pass+pass, "keys", "add", "alice", "--home", home); code != 0 {
			t.Fatalf("keys add: %s", out)
		}
		out, code := run(t, "", "research", "submit", "SELECT count()", "--rho", "0.5", "--from", "alice", "--he-key", "alice",
			"--home", home, "--node", "http://127.0.0.1:1")
		// The node is asked first (for the alliance's limits and the
		// budget); no passphrase is asked (standard input is empty).
		if code != 1 || !strings.Contains(out, "127.0.0.1:1") {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

// TestResearchOnAOneHospitalLocalnet drives the researcher's commands
// against a real one-validator localnet with a researcher account: key,
// budget, submission (and the refusals of an over-budget spend and of a
// signer without the researcher role), status, list, and a result asked
// for before the query is released.
func TestResearchOnAOneHospitalLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	m, err := localnet.Generate(localnet.Options{Dir: filepath.Join(t.TempDir(), "ln"), Validators: 1, Researcher: true})
	if err != nil {
		t.Fatal(err)
	}
	c := localnet.NewCluster(medchain(t), m)
	// The test plays the hospital, with figures it chose: the node's own
	// research worker stays out (its answers are the e2e tests' subject).
	if err := c.StartEnv(0, hework.FaultNoResearchEnv+"=1"); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	home := m.Nodes[0].Home
	at := []string{"--home", home, "--keyring-backend", "test", "--node", m.Nodes[0].RPC}
	cli := func(args ...string) (string, int) {
		t.Helper()
		if args[1] == "status" { // reads no keyring
			return run(t, "", append(args, at[4:]...)...)
		}
		return run(t, "", append(args, at...)...)
	}
	if out, code := cli("research", "keygen", "--name", "alice"); code != 0 {
		t.Fatalf("keygen: %s", out)
	}
	if _, err := os.Stat(filepath.Join(node.KeyringDir(home), "alice.he.secret")); err != nil {
		t.Fatal(err)
	}
	me := localnet.ResearcherKeyName
	if out, code := cli("research", "budget", "--from", me); code != 0 || !strings.Contains(out, "ρ = 10 left of 10 granted") {
		t.Fatalf("budget before: %d %s", code, out)
	}
	out, code := cli("research", "submit", "SELECT count(), survival(C34; 30, 1825) WHERE sex = 'female'", "--from", me, "--he-key", "alice", "--rho", "0.5", "-o", "json")
	if code != 0 {
		t.Fatalf("submit: %s", out)
	}
	var sub struct {
		ID       uint64 `json:"id"`
		Query    string `json:"query"`
		RhoMicro uint64 `json:"rho_micro"`
	}
	if err := json.Unmarshal([]byte(out), &sub); err != nil || sub.ID == 0 || sub.RhoMicro != 500_000 || !strings.Contains(sub.Query, "AS OF '") {
		t.Fatalf("submit answered %v: %s", err, out)
	}
	id := fmt.Sprint(sub.ID)

	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"the status shows the query, its collection and the budget left", []string{"research", "status", id}, 0,
			[]string{"query " + id + " by mc1", "survival(C34; 30, 1825)", "status ", "contributions until height", "of 1", "ρ = 9.5 of 10 left"}},
		{"the researcher's list holds the query", []string{"research", "list", "--from", me}, 0, []string{id + " ", "count()"}},
		{"the budget has the spend taken off", []string{"research", "budget", "--from", me}, 0, []string{"ρ = 9.5 left of 10 granted (0.5 spent)"}},
		{"a spend over the budget is refused before it is sent", []string{"research", "submit", "SELECT count()", "--from", me, "--he-key", "alice", "--epsilon", "100"}, 1,
			[]string{"privacy budget", "9.5 of 10 is left"}},
		{"a spend that rounds down to nothing is refused before it is sent", []string{"research", "submit", "SELECT count()", "--from", me, "--he-key", "nobody", "--rho", "0.0000001"}, 1,
			[]string{"rounds down to ρ = 0"}},
		{"an HE key that does not exist is named", []string{"research", "submit", "SELECT count()", "--from", me, "--he-key", "nobody", "--rho", "0.1"}, 1,
			[]string{`no researcher HE key "nobody"`, "research keygen --name nobody"}},
		{"a signer without the researcher role is refused by the chain with exit 3", []string{"research", "submit", "SELECT count()", "--from", "operator", "--he-key", "alice", "--rho", "0.1"}, 3,
			[]string{"refused"}},
		{"the status of an unknown query says so", []string{"research", "status", "99"}, 1, []string{"no research query 99"}},
		{"the result of an unknown query says so", []string{"research", "result", "99", "--he-key", "alice"}, 1, []string{"no research query 99"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := cli(tt.args...)
			t.Logf("%s:\n%s", strings.Join(tt.args, " "), out)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
	t.Run("a released result decrypts into tables, JSON and a survival plot", func(t *testing.T) {
		releasedResult(ctx, t, m, cli)
	})
	t.Run("a result asked for before its release is refused and says why", func(t *testing.T) {
		// No hospital holds patients here: the query is collecting, or has
		// ended without a result (no contribution, or a cohort too small).
		out, code := cli("research", "result", id, "--he-key", "alice", "--plot", filepath.Join(t.TempDir(), "km.svg"))
		if code != 1 || !(strings.Contains(out, "not released yet") || strings.Contains(out, "it has no result")) {
			t.Fatalf("exit %d: %s", code, out)
		}
	})
}

// releasedResult has the test play the one hospital: it contributes known
// figures to a new query (encrypted under the collective key, signed by
// the operator); the node's HE worker decrypts the cohort count and
// switches the sum to the researcher, who reads it with research result.
func releasedResult(ctx context.Context, t *testing.T, m *localnet.Manifest, cli func(...string) (string, int)) {
	t.Helper()
	out, code := cli("research", "submit", "SELECT count(), mean(age), survival(C34; 10, 30)", "--from", localnet.ResearcherKeyName,
		"--he-key", "alice", "--rho", "0.25", "-o", "json")
	var sub struct {
		ID uint64 `json:"id"`
	}
	if err := json.Unmarshal([]byte(out), &sub); code != 0 || err != nil {
		t.Fatalf("submit: %d %v %s", code, err, out)
	}
	cl, err := client.Dial(m.Nodes[0].RPC)
	if err != nil {
		t.Fatal(err)
	}
	read := func(path string, msg proto.Message) []byte {
		t.Helper()
		q, err := cl.Query(ctx, path, 0, false)
		if err != nil || q.Value == nil {
			t.Fatalf("%s: %v (found %v)", path, err, q != nil && q.Value != nil)
		}
		if msg != nil {
			if err := tx.Unmarshal(q.Value, msg); err != nil {
				t.Fatal(err)
			}
		}
		return q.Value
	}
	var ap pb.Params
	var ep pb.KeyEpoch
	var rq pb.ResearchQuery
	read("/params", &ap)
	read("/he/epoch/1", &ep)
	read(fmt.Sprintf("/research/query/%d", sub.ID), &rq)
	pk := read("/blob/"+hex.EncodeToString(ep.PublicKeyHash), nil)
	hp, lim, err := report.Alliance(&ap)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := query.Layout(rq.Query, lim)
	if err != nil {
		t.Fatal(err)
	}
	// 12 patients aged 50 on average; C34 survival over bins of 10 days.
	figures := []int64{12, 12, 600, 12, 1, 1, 10, 2, 1, 7, 1, 2, 4, 0, 0}
	v := make([]int64, plan.Slots)
	k := 0
	for _, b := range plan.Blocks {
		for _, f := range b.Figures {
			f.Split(v, figures[k])
			k++
		}
	}
	result, err := hp.EncodeEncrypt(pk, v)
	if err != nil {
		t.Fatal(err)
	}
	count, err := hp.EncodeEncrypt(pk, []int64{12})
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(node.KeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := kr.Signer("operator")
	if err != nil {
		t.Fatal(err)
	}
	contribution := &pb.Contribute{Query: sub.ID, Result: result, Count: count}
	for attempt := 0; ; attempt++ {
		// The node's HE worker signs with the operator key too: retry
		// while their nonces race.
		res, err := cl.Send(ctx, op, research.TypeContribute, contribution, time.Minute)
		var ce *client.CodeError
		if err == nil && res.Code == 0 {
			break
		}
		if attempt < 10 && (errors.As(err, &ce) && (ce.Code == 6 || ce.Code == 7) || err == nil && (res.Code == 6 || res.Code == 7)) {
			continue
		}
		t.Fatalf("contribute: %v %+v", err, res)
	}
	for rq.Status != pb.ResearchQuery_STATUS_RELEASED {
		if rq.Status == pb.ResearchQuery_STATUS_FAILED || rq.Status == pb.ResearchQuery_STATUS_REFUSED {
			t.Fatalf("query %d: %s: %s", sub.ID, rq.Status, rq.Reason)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("query %d still %s", sub.ID, rq.Status)
		case <-time.After(200 * time.Millisecond):
		}
		read(fmt.Sprintf("/research/query/%d", sub.ID), &rq)
	}
	id := fmt.Sprint(sub.ID)
	plot := filepath.Join(t.TempDir(), "km.svg")
	out, code = cli("research", "result", id, "--he-key", "alice", "--plot", plot)
	t.Logf("research result %s:\n%s", id, out)
	for _, want := range []string{"query " + id, "h0 (1)", "noised cohort count 12", "zCDP ρ = 0.25", "mean(age)", "0.916667", "0.628571"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Fatalf("exit %d, the result lacks %q", code, want)
		}
	}
	if svg, err := os.ReadFile(plot); err != nil || !bytes.Contains(svg, []byte("<polyline")) {
		t.Fatalf("plot: %v", err)
	}
	out, code = cli("research", "result", id, "--he-key", "alice", "-o", "json")
	var r report.Report
	if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
		t.Fatalf("json: %d %v %s", code, err, out)
	}
	if s := r.Statistics; *s[0].N != 12 || *s[1].Mean != 50 || s[2].Survival[1].S != 11.0/12*8/10 || r.DPOff {
		t.Fatalf("the JSON result: %s", out)
	}
	if out, code := cli("research", "keygen", "--name", "bob"); code != 0 {
		t.Fatalf("keygen bob: %s", out)
	}
	if out, code := cli("research", "result", id, "--he-key", "bob"); code != 1 || !strings.Contains(out, "switched to another HE key") {
		t.Fatalf("another key: %d %s", code, out)
	}
}

// TestResearchPlaintextBaselineOnAOneHospitalLocalnet: in a benchmark
// alliance (plaintext_baseline, DP off) a researcher submits a query with
// --plaintext-baseline and no HE key; the test plays the hospital and
// posts plain figures; status says it is a plaintext baseline, and
// research result prints the released sums without any key (and refuses
// one). An encrypted query's result still needs --he-key.
func TestResearchPlaintextBaselineOnAOneHospitalLocalnet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	r := genesis.DefaultResearch()
	r.DPOff, r.PlaintextBaseline, r.MinCohort = true, true, 5
	m, err := localnet.Generate(localnet.Options{Dir: filepath.Join(t.TempDir(), "ln"), Validators: 1, Researcher: true, Research: r})
	if err != nil {
		t.Fatal(err)
	}
	c := localnet.NewCluster(medchain(t), m)
	if err := c.StartEnv(0, hework.FaultNoResearchEnv+"=1"); err != nil {
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
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	at := []string{"--home", m.Nodes[0].Home, "--keyring-backend", "test", "--node", m.Nodes[0].RPC}
	cli := func(args ...string) (string, int) {
		t.Helper()
		if args[1] == "status" { // reads no keyring
			return run(t, "", append(args, at[4:]...)...)
		}
		return run(t, "", append(args, at...)...)
	}
	me := localnet.ResearcherKeyName
	out, code := cli("research", "submit", "SELECT count(), mean(age)", "--from", me, "--plaintext-baseline", "-o", "json")
	var sub struct {
		ID        uint64 `json:"id"`
		Plaintext bool   `json:"plaintext"`
	}
	if err := json.Unmarshal([]byte(out), &sub); code != 0 || err != nil || sub.ID == 0 || !sub.Plaintext {
		t.Fatalf("submit: %d %v %s", code, err, out)
	}
	id := fmt.Sprint(sub.ID)
	if out, code := cli("research", "status", id); code != 0 || !strings.Contains(out, "plaintext baseline") {
		t.Fatalf("status: %d %s", code, out)
	}

	cl, err := client.Dial(m.Nodes[0].RPC)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(node.KeyringDir(m.Nodes[0].Home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	op, err := kr.Signer("operator")
	if err != nil {
		t.Fatal(err)
	}
	// 12 patients aged 50 on average: count n, mean(age)'s n and sum in
	// the query's three slots.
	contribution := &pb.Contribute{Query: sub.ID, PlainResult: []int64{12, 12, 600}, PlainCount: 12}
	for attempt := 0; ; attempt++ {
		res, err := cl.Send(ctx, op, research.TypeContribute, contribution, time.Minute)
		var ce *client.CodeError
		if err == nil && res.Code == 0 {
			break
		}
		if attempt < 10 && (errors.As(err, &ce) && (ce.Code == 6 || ce.Code == 7) || err == nil && (res.Code == 6 || res.Code == 7)) {
			continue // the node's HE worker signs with the operator key too
		}
		t.Fatalf("contribute: %v %+v", err, res)
	}
	// One member: its contribution releases the query in its block.
	if out, code := cli("research", "status", id); code != 0 || !strings.Contains(out, "RELEASED") {
		t.Fatalf("status after the contribution: %d %s", code, out)
	}
	tests := []struct {
		name string
		args []string
		code int
		want []string
	}{
		{"the result is printed without any key", []string{"research", "result", id}, 0, []string{"query " + id, "h0 (1)", "mean(age)", "50"}},
		{"the result refuses an HE key it does not need", []string{"research", "result", id, "--he-key", "alice"}, 1, []string{"plaintext-baseline query", "drop --he-key"}},
		{"an encrypted submit still needs an HE key", []string{"research", "submit", "SELECT count()", "--from", me}, 1, []string{"--he-key is required"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, code := cli(tt.args...)
			t.Logf("%s:\n%s", strings.Join(tt.args, " "), out)
			if code != tt.code {
				t.Fatalf("exit %d, want %d:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Fatalf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}
