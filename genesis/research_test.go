package genesis

import (
	"errors"
	"strings"
	"testing"
)

// researchState is validState with HE and the default research rules.
func researchState(edit func(r *Research)) *AppState {
	s := validState()
	s.HE = DefaultHE(len(s.Hospitals))
	for i := range s.Hospitals {
		s.Hospitals[i].SealPubKey = pubKey("seal" + s.Hospitals[i].ID)
	}
	s.Research = DefaultResearch()
	edit(s.Research)
	return s
}

// TestResearchRulesAreValidated covers the research section's switches:
// the plaintext baseline is a benchmark mode that needs DP off, and the
// state form carries both switches.
func TestResearchRulesAreValidated(t *testing.T) {
	tests := []struct {
		name string
		edit func(r *Research)
		bad  string // "" if valid
	}{
		{"the default rules are valid and leave both switches off", func(*Research) {}, ""},
		{"a test alliance without DP is valid", func(r *Research) { r.DPOff = true }, ""},
		{"a benchmark alliance with the plaintext baseline and DP off is valid", func(r *Research) { r.DPOff, r.PlaintextBaseline = true, true }, ""},
		{"the plaintext baseline with DP on is refused", func(r *Research) { r.PlaintextBaseline = true }, "research.plaintext_baseline: needs dp_off"},
		{"a zero min_cohort is still refused", func(r *Research) { r.MinCohort = 0 }, "research.min_cohort"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := researchState(tt.edit)
			got, err := ParseAppState(mustJSON(t, s))
			if tt.bad != "" {
				if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.bad) {
					t.Fatalf("ParseAppState = %v, want ErrInvalid mentioning %q", err, tt.bad)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p := got.Research.Proto()
			if p.DpOff != s.Research.DPOff || p.PlaintextBaseline != s.Research.PlaintextBaseline {
				t.Fatalf("state form %+v does not carry the switches of %+v", p, s.Research)
			}
		})
	}
	if r := DefaultResearch(); r.DPOff || r.PlaintextBaseline {
		t.Fatalf("DefaultResearch turns on a test switch: %+v", r)
	}
}
