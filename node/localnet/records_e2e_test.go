package localnet

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/medchain/medchain/abci/store"
	"github.com/medchain/medchain/node/fhir"
	"github.com/medchain/medchain/node/vault"
)

// planted are identity strings the test writes into hospital 0's export,
// so distinctive that finding one anywhere can only be a leak.
var planted = []string{"Quixoteplanted", "Zebulonplanted", "555-0199-4242", "NID-PLANTED-8832"}

// TestRecordSharingStory is issue 3's end-to-end acceptance on a real
// 4-validator localnet with running gateways: the demo's record story
// (import, grant, read through the gateway, forward, refusal, break-glass
// and review, revocation, erasure), every outcome checked by RecordStory;
// then no identity field of the imported FHIR is in any node's files,
// state, blocks or events, and no record plaintext is in any vault file.
func TestRecordSharingStory(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	begin := time.Now()
	c := startLocalnetWith(t, ctx, Options{Validators: 4})
	if err := c.WaitKeyCeremony(ctx); err != nil {
		t.Fatal(err)
	}
	var needles []string
	res, err := RecordStory(ctx, c, StoryOptions{
		Bin: medchainBinary(t), Patients: 8,
		Prepare: func(dir string) (err error) {
			if err := plant(filepath.Join(dir, "hospital0", "patients.ndjson")); err != nil {
				return err
			}
			needles, err = identityStrings(dir)
			return err
		},
		Say: func(format string, a ...any) { t.Logf(format, a...) },
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("story done in %s", time.Since(begin).Round(100*time.Millisecond))
	if len(res.Accesses) != 3 || len(res.Refusals) != 3 {
		t.Fatalf("accesses %v, refusals %d; want 3 and 3", res.Accesses, len(res.Refusals))
	}
	if len(needles) < 40 {
		t.Fatalf("only %d identity strings to look for", len(needles))
	}

	// Blocks and events, from a node's RPC, while it runs.
	rpc, err := c.Client(1)
	if err != nil {
		t.Fatal(err)
	}
	st, err := rpc.Status(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var chainBytes bytes.Buffer
	for h := int64(1); h <= st.SyncInfo.LatestBlockHeight; h++ {
		b, err := rpc.RPC().Block(ctx, &h)
		if err != nil {
			t.Fatal(err)
		}
		for _, tx := range b.Block.Txs {
			chainBytes.Write(tx)
		}
		br, err := rpc.RPC().BlockResults(ctx, &h)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range br.TxsResults {
			chainBytes.WriteString(r.Log)
			for _, e := range r.Events {
				for _, a := range e.Attributes {
					chainBytes.WriteString(a.Key + "=" + a.Value + "\n")
				}
			}
		}
		for _, e := range br.FinalizeBlockEvents {
			for _, a := range e.Attributes {
				chainBytes.WriteString(a.Key + "=" + a.Value + "\n")
			}
		}
	}
	if chainBytes.Len() < 10_000 {
		t.Fatalf("read only %d bytes of txs and events", chainBytes.Len())
	}
	checkAbsent(t, "blocks, tx results and events", chainBytes.Bytes(), needles)

	// Every file of every node home (config, CometBFT data, state, vault,
	// spool, keyrings, logs), and each node's state, key by key (Badger
	// compresses its tables, so the raw scan alone could miss a value).
	if err := c.StopAll(); err != nil {
		t.Fatal(err)
	}
	for i, n := range c.Manifest.Nodes {
		scanned := 0
		err := filepath.WalkDir(n.Home, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			scanned += len(raw)
			checkAbsent(t, path, raw, needles)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(store.Options{Dir: filepath.Join(n.Home, "data", "medchain-state")})
		if err != nil {
			t.Fatal(err)
		}
		it, err := st.Iterator(nil, nil, true)
		if err != nil {
			t.Fatal(err)
		}
		var state bytes.Buffer
		keys := 0
		for ; it.Valid(); it.Next() {
			state.Write(it.Key())
			state.Write(it.Value())
			keys++
		}
		it.Close()
		st.Close()
		checkAbsent(t, fmt.Sprintf("node %d's state (%d keys)", i, keys), state.Bytes(), needles)
		t.Logf("node %d: no identity string in %d bytes of files, %d state keys, the logs or %d bytes of blocks and events", i, scanned, keys, chainBytes.Len())
	}

	// No record plaintext in any vault file (it is encrypted at rest, and
	// each value again under its record's data key).
	plainMarks := []string{`"resourceType"`, `"Observation"`, `"Encounter"`, `"subject"`, "4548-4"}
	for i, n := range c.Manifest.Nodes {
		err := filepath.WalkDir(vault.Dir(n.Home), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			checkAbsent(t, path, raw, plainMarks)
			return nil
		})
		if err != nil {
			t.Fatalf("node %d's vault: %v", i, err)
		}
	}
}

// plant replaces the first patient's name, mobile number and national id
// in an NDJSON export with the planted strings.
func plant(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	set, err := fhir.ReadFile(path, fhir.Limits{})
	if err != nil {
		return err
	}
	p := set.Patients[0]
	first, rest, _ := bytes.Cut(raw, []byte("\n"))
	line := string(first)
	for _, r := range []struct{ old, new string }{
		{`"family":"` + p.Name[0].Family + `"`, `"family":"` + planted[0] + `"`},
		{`"given":["` + p.Name[0].Given[0] + `"]`, `"given":["` + planted[1] + `"]`},
	} {
		if !strings.Contains(line, r.old) {
			return fmt.Errorf("plant: %s not in the first patient", r.old)
		}
		line = strings.Replace(line, r.old, r.new, 1)
	}
	for _, tel := range p.Telecom {
		line = strings.Replace(line, `"value":"`+tel.Value+`"`, `"value":"`+planted[2]+`"`, 1)
	}
	for _, id := range p.Identifier {
		if strings.Contains(id.System, "national-id") {
			line = strings.Replace(line, `"value":"`+id.Value+`"`, `"value":"`+planted[3]+`"`, 1)
		}
	}
	for _, s := range planted {
		if !strings.Contains(line, s) {
			return fmt.Errorf("plant: %s did not go in", s)
		}
	}
	return os.WriteFile(path, append([]byte(line+"\n"), rest...), 0o600)
}

// identityStrings lists every identifying value of every patient of the
// cohort: identifiers (MRN, national id, insurance), phones, and names of
// six letters or more (shorter ones occur in any text by chance).
func identityStrings(dir string) ([]string, error) {
	var out []string
	files, err := filepath.Glob(filepath.Join(dir, "hospital*", "patients.ndjson"))
	if err != nil || len(files) == 0 {
		return nil, fmt.Errorf("no patient files in %s: %v", dir, err)
	}
	for _, f := range files {
		set, err := fhir.ReadFile(f, fhir.Limits{})
		if err != nil {
			return nil, err
		}
		for _, p := range set.Patients {
			for _, id := range p.Identifier {
				out = append(out, id.Value)
			}
			for _, tel := range p.Telecom {
				out = append(out, tel.Value)
			}
			for _, n := range p.Name {
				for _, s := range append([]string{n.Family}, n.Given...) {
					if len(s) >= 6 {
						out = append(out, s)
					}
				}
			}
		}
	}
	return out, nil
}

func checkAbsent(t *testing.T, where string, data []byte, needles []string) {
	t.Helper()
	lower := bytes.ToLower(data)
	for _, s := range needles {
		if bytes.Contains(data, []byte(s)) || bytes.Contains(lower, bytes.ToLower([]byte(s))) {
			t.Errorf("%s holds identifying or plaintext string %q", where, s)
		}
	}
}
