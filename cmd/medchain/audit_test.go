package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	dbm "github.com/cometbft/cometbft-db"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/node/localnet"
)

// runAudit runs the CLI in this process (so the exit code an error calls
// for is seen whether or not main maps it yet) and returns stdout, the
// error's text and the exit code main gives.
func runAudit(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	root := newRootCmd()
	wired := false
	for _, c := range root.Commands() {
		wired = wired || c.Name() == "audit"
	}
	if !wired {
		root.AddCommand(newAuditCmd())
	}
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return out.String(), "", 0
	}
	code := 1
	var ec interface{ ExitCode() int }
	if errors.As(err, &ec) {
		code = ec.ExitCode()
	}
	return out.String(), err.Error(), code
}

func TestAuditReplayRefusesBadFlagsClearly(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"both a home and an RPC address", []string{"--home", dir, "--rpc", "http://127.0.0.1:1"}, "not both"},
		{"an unknown output format", []string{"--home", dir, "-o", "yaml"}, "--output"},
		{"a negative last height", []string{"--home", dir, "--to", "-3"}, "--to -3"},
		{"a home that does not exist", []string{"--home", filepath.Join(dir, "nope")}, "does not exist"},
		{"a home that never ran a node", []string{"--home", dir}, "config"},
		{"an RPC address that is not a URL", []string{"--rpc", "127.0.0.1:26657"}, "http://host:port"},
		{"an RPC address where no node listens", []string{"--rpc", "http://127.0.0.1:1"}, "127.0.0.1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, msg, code := runAudit(t, append([]string{"audit", "replay"}, tc.args...)...)
			if code != 1 || !strings.Contains(msg, tc.want) {
				t.Fatalf("exit %d, message %q; want exit 1 and a message with %q", code, msg, tc.want)
			}
		})
	}
}

// TestAuditReplayOnAOneHospitalLocalnet replays a real one-validator chain
// over RPC while it runs and from its home once stopped (exit 0), then a
// truncated copy (exit 4) and a copy whose state was written past its
// blocks (exit 2); the messages name the heights.
func TestAuditReplayOnAOneHospitalLocalnet(t *testing.T) {
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
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.WaitHeight(ctx, 0, 8); err != nil {
		t.Fatal(err)
	}
	out, msg, code := runAudit(t, "audit", "replay", "--rpc", m.Nodes[0].RPC, "-o", "json", "--quiet")
	var rep struct {
		Heights int64  `json:"heights_checked"`
		To      int64  `json:"to"`
		Checked string `json:"last_checked_by"`
	}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Heights < 8 || rep.Heights != rep.To {
		t.Fatalf("replay over RPC: exit %d %s\n%s", code, msg, out)
	}
	if err := c.StopAll(); err != nil {
		t.Fatal(err)
	}
	home := m.Nodes[0].Home
	out, msg, code = runAudit(t, "audit", "replay", "--home", home, "--quiet")
	if code != 0 || !strings.Contains(out, "result    PASS") || !strings.Contains(out, "home's state") {
		t.Fatalf("replay of the home: exit %d %s\n%s", code, msg, out)
	}

	// Truncate: the last block's meta goes; the store still says it has it.
	db, err := dbm.NewGoLevelDB("blockstore", filepath.Join(home, "data"))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Delete([]byte("H:5")); err != nil {
		t.Fatal(err)
	}
	db.Close()
	out, msg, code = runAudit(t, "audit", "replay", "--home", home, "--quiet")
	if code != exitAuditUnreadable || !strings.Contains(msg, "height 5:") || !strings.Contains(out, "FAIL (unreadable)") {
		t.Fatalf("replay of a truncated store: exit %d %q\n%s", code, msg, out)
	}
	out, msg, code = runAudit(t, "audit", "replay", "--home", home, "--quiet", "--to", "4")
	if code != 0 {
		t.Fatalf("replay up to the height before the cut: exit %d %q\n%s", code, msg, out)
	}

	// A key committed into the home's state past its last block.
	st, err := store.Open(store.Options{Dir: filepath.Join(home, "data", "medchain-state")})
	if err != nil {
		t.Fatal(err)
	}
	last, _ := st.LastCommit()
	if err := st.Set([]byte("tampered"), []byte("by the test")); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Commit(last + 1); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, msg, code = runAudit(t, "audit", "replay", "--home", home, "--quiet")
	if code != exitAuditFailed || !strings.Contains(msg, fmt.Sprintf("height %d:", last+1)) || !strings.Contains(msg, "above its block store") {
		t.Fatalf("replay of a home whose state was written past its blocks: exit %d %q\n%s", code, msg, out)
	}
}
