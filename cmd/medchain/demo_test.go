package main

import (
	"strings"
	"testing"
)

// TestDemo runs the README's first command, `medchain demo`, as a
// newcomer would: a real 4-validator alliance in OS processes, the whole
// story, and the auditor's replay of the stopped chain at the end.
func TestDemo(t *testing.T) {
	out, code := run(t, "", "demo")
	if code != 0 {
		t.Fatalf("medchain demo exited %d:\n%s", code, out)
	}
	for _, want := range []string{
		"code 6", "code 4", "code 3", "code 10", "code 1", "proof verified",
		"all 4 nodes computed the same app hash", "= the exact sum",
		"medchain audit replay --home: re-executed heights 1 to", "every app hash matches",
		"the members vote to register an auditor", "passed with 3 of 4 members",
		"the report lists exactly what the demo did",
		"all checks passed", "demo took",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}
}
