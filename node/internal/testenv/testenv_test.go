package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestMedchainBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds cmd/medchain")
	}
	bin := MedchainBinary(t)
	t.Run("the binary is built once and runs", func(t *testing.T) {
		if again := MedchainBinary(t); again != bin {
			t.Fatalf("second call gave %s, first %s", again, bin)
		}
		st, err := os.Stat(bin)
		if err != nil || st.Mode().Perm()&0o100 == 0 {
			t.Fatalf("%s: %v, mode %v", bin, err, st.Mode())
		}
		out, err := exec.Command(bin, "--help").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "medchain") {
			t.Fatalf("medchain --help: %v\n%s", err, out)
		}
	})
}

func TestFreePort(t *testing.T) {
	t.Run("the port can be listened on at once", func(t *testing.T) {
		p := FreePort(t)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d: %v", p, err)
		}
		l.Close()
	})
}
