package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// medchainPackage is the command MedchainBinary builds.
const medchainPackage = "github.com/medchain/medchain/cmd/medchain"

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// MedchainBinary builds cmd/medchain once per test process (into a
// temporary folder that outlives the test, as later tests reuse it) and
// returns its path. A failed build fails t with the compiler's output.
func MedchainBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "medchain-test-bin-")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "medchain")
		if out, err := exec.Command("go", "build", "-o", binPath, medchainPackage).CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
