package governance_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts/governance"
	"github.com/medchain/medchain/contracts/pb"
)

// FuzzPropose: any payload bytes either fail to prepare or, sent by a
// member, are carried out or refused; none panics.
func FuzzPropose(f *testing.F) {
	for _, m := range []*pb.Propose{
		admitMsg("h6"), removeMsg("h2"), registerMsg("x", pb.Role_ROLE_AUDITOR), retireMsg(addr("auditor")),
		grantMsg(addr("researcher"), 3), setMsg(&pb.SetParams{Threshold: u32p(2), MaxTxBytes: u64p(2048)}),
	} {
		bz, _ := proto.Marshal(m)
		f.Add(bz)
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		a := newAlliance(t, 5)
		p, err := a.router.Prepare(governance.TypePropose, payload)
		if err != nil {
			return
		}
		if err := a.send(addr("op-h1"), governance.TypePropose, p.Msg); err == nil {
			a.passAll(1)
		}
	})
}

// FuzzPathKey: any "/gov/..." path gives a key or an error, never a panic.
func FuzzPathKey(f *testing.F) {
	f.Add("proposal/1")
	f.Add("proposals")
	f.Add("proposal/-1")
	f.Fuzz(func(t *testing.T, path string) {
		parts := splitPath(path)
		k, err := governance.PathKey(parts)
		if (k == nil) == (err == nil) {
			t.Fatalf("PathKey(%q) = %x, %v", path, k, err)
		}
		_ = governance.IsListPath(parts)
	})
}

func splitPath(s string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '/' {
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return out
}
