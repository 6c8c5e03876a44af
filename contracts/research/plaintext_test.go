package research

import (
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
)

func TestPlaintextQueriesNeedTheBaselineAndDPOff(t *testing.T) {
	tests := []struct {
		name string
		rp   *pb.ResearchParams
		want string // "" if allowed
	}{
		{"a default alliance denies them", &pb.ResearchParams{}, "plaintext_baseline is off"},
		{"a test alliance without DP but without the baseline denies them", &pb.ResearchParams{DpOff: true}, "plaintext_baseline is off"},
		{"the baseline with DP on denies them, saying DP must be off", &pb.ResearchParams{PlaintextBaseline: true}, "without differential privacy"},
		{"a benchmark alliance with the baseline and DP off allows them", &pb.ResearchParams{PlaintextBaseline: true, DpOff: true}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := allowPlaintext(tt.rp)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, contracts.ErrDenied) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("allowPlaintext = %v, want a denial mentioning %q", err, tt.want)
			}
		})
	}
}

func TestPlainContributionsAreCheckedForForm(t *testing.T) {
	lim := query.Limits{MaxSlots: 4, SlotBound: 1000, MaxPatients: 50}
	tests := []struct {
		name  string
		c     *pb.Contribute
		plain bool
		want  string // "" if well formed
	}{
		{"plain figures within range are a plain contribution", &pb.Contribute{PlainResult: []int64{1, -1000, 1000}, PlainCount: 50}, true, ""},
		{"a zero count with figures is a plain contribution", &pb.Contribute{PlainResult: []int64{0}}, true, ""},
		{"ciphertexts are an encrypted contribution", &pb.Contribute{Result: []byte{1}, Count: []byte{2}}, false, ""},
		{"both kinds at once are refused", &pb.Contribute{Result: []byte{1}, PlainResult: []int64{1}}, false, "not both"},
		{"a count alone beside ciphertexts is refused", &pb.Contribute{Count: []byte{1}, PlainCount: 3}, false, "not both"},
		{"an empty contribution is refused", &pb.Contribute{}, false, "empty contribution"},
		{"more values than a vector has slots are refused", &pb.Contribute{PlainResult: make([]int64, 5)}, true, "at most 4"},
		{"a value over the slot range is refused", &pb.Contribute{PlainResult: []int64{0, 1001}}, true, "plain_result[1] = 1001"},
		{"a value under the slot range is refused", &pb.Contribute{PlainResult: []int64{math.MinInt64}}, true, "plain_result[0]"},
		{"a negative count is refused", &pb.Contribute{PlainResult: []int64{1}, PlainCount: -1}, true, "plain_count -1"},
		{"a count over max_patients is refused", &pb.Contribute{PlainResult: []int64{1}, PlainCount: 51}, true, "plain_count 51"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain, err := contributionKind(tt.c)
			if err == nil && plain {
				err = checkPlainContribution(tt.c, lim)
			}
			if tt.want == "" {
				if err != nil || plain != tt.plain {
					t.Fatalf("kind plain=%v err=%v, want plain=%v and no error", plain, err, tt.plain)
				}
				return
			}
			if !errors.Is(err, contracts.ErrInvalidPayload) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want invalid payload mentioning %q", err, tt.want)
			}
		})
	}
}

func TestAddInt64ReportsOverflow(t *testing.T) {
	tests := []struct {
		name string
		a, b int64
		ok   bool
	}{
		{"small sums are exact", 40, 2, true},
		{"a sum to the largest value is exact", math.MaxInt64 - 1, 1, true},
		{"a sum past the largest value overflows", math.MaxInt64, 1, false},
		{"a sum to the smallest value is exact", math.MinInt64 + 1, -1, true},
		{"a sum past the smallest value overflows", math.MinInt64, -1, false},
		{"opposite signs never overflow", math.MaxInt64, math.MinInt64, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, ok := addInt64(tt.a, tt.b)
			if ok != tt.ok || ok && s != tt.a+tt.b {
				t.Fatalf("addInt64(%d, %d) = %d, %v", tt.a, tt.b, s, ok)
			}
		})
	}
}

// FuzzAddInt64 checks the overflow test against exact arithmetic.
func FuzzAddInt64(f *testing.F) {
	f.Add(int64(1), int64(2))
	f.Add(int64(math.MaxInt64), int64(1))
	f.Add(int64(math.MinInt64), int64(-1))
	f.Fuzz(func(t *testing.T, a, b int64) {
		exact := new(big.Int).Add(big.NewInt(a), big.NewInt(b))
		s, ok := addInt64(a, b)
		if ok != exact.IsInt64() || ok && s != exact.Int64() {
			t.Fatalf("addInt64(%d, %d) = %d, %v; exact sum %s", a, b, s, ok, exact)
		}
	})
}
