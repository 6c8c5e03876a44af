package genesis

import (
	"errors"
	"strings"
	"testing"
)

func TestGovernanceSectionIsValidated(t *testing.T) {
	tests := []struct {
		name    string
		g       *Governance
		wantErr string
	}{
		{"no section is valid: the default deadline applies", nil, ""},
		{"the default section is valid", DefaultGovernance(), ""},
		{"a zero deadline is refused", &Governance{VotingDeadlineBlocks: 0}, "governance.voting_deadline_blocks"},
		{"a deadline over the bound is refused", &Governance{VotingDeadlineBlocks: MaxVotingDeadlineBlocks + 1}, "governance.voting_deadline_blocks"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := validState()
			s.Governance = tt.g
			err := s.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("Validate = %v, want %q", err, tt.wantErr)
			}
		})
	}
	t.Run("a hospital id is checked as genesis checks it", func(t *testing.T) {
		if CheckHospitalID("st-marys") != nil || CheckHospitalID("St Marys") == nil {
			t.Fatal("CheckHospitalID disagrees with the genesis pattern")
		}
	})
}
