package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestReadPassphraseFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string, mode os.FileMode) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		return p
	}
	tests := []struct {
		name    string
		path    string
		want    string
		wantErr string
	}{
		{"a 0600 file gives its passphrase without the final newline", write("a", "correct horse\n", 0o600), "correct horse", ""},
		{"a CRLF line break is dropped too", write("b", "pass word\r\n", 0o600), "pass word", ""},
		{"inner spaces and a missing newline are kept as they are", write("c", " x y ", 0o400), " x y ", ""},
		{"a group-readable file is refused with the fix", write("d", "p\n", 0o640), "", "chmod 600"},
		{"an empty file is refused", write("e", "\n", 0o600), "", "is empty"},
		{"a missing file is refused", filepath.Join(dir, "none"), "", "no such file"},
		{"a directory is refused", dir, "", "not a regular file"},
		{"a huge file is refused", write("f", strings.Repeat("x", 5000), 0o600), "", "larger than 4 KiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readPassphraseFile(tt.path)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("= %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestStartUnlocksTheKeyringForTheHEWorker: a one-hospital alliance made
// by `medchain init` (file backend) has an HE section, so `start` needs
// the keyring passphrase; with it, the worker runs the whole one-member
// ceremony on its own.
func TestStartUnlocksTheKeyringForTheHEWorker(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	home := filepath.Join(t.TempDir(), "h")
	const pass = "correct horse battery"
	if out, code := run(t, pass+"\n"+pass+"\n", "init", "--home", home, "--moniker", "solo"); code != 0 {
		t.Fatalf("init: %s", out)
	}
	passFile := filepath.Join(t.TempDir(), "pass")
	wrongFile := filepath.Join(t.TempDir(), "wrong")
	if err := os.WriteFile(passFile, []byte(pass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(wrongFile, []byte("not the passphrase\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := func() []string {
		return []string{"--rpc.laddr", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)), "--p2p.laddr", fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t))}
	}
	refusals := []struct {
		name string
		args []string
		env  string
		want string
	}{
		{"a wrong passphrase file stops start before the node runs", []string{"--keyring-passphrase-file", wrongFile}, "", "wrong passphrase"},
		{"the passphrase file is also read from the environment", nil, passphraseFileEnv + "=" + wrongFile, "wrong passphrase"},
		{"no passphrase on standard input is refused with the way out", nil, "", "--keyring-passphrase-file"},
		{"the test backend cannot read a file keyring", []string{"--keyring-backend", "test"}, "", "--keyring-backend file"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			cmd := exec.Command(medchain(t), append(append([]string{"start", "--home", home}, ports()...), tt.args...)...)
			cmd.Env = os.Environ()
			if tt.env != "" {
				cmd.Env = append(cmd.Env, tt.env)
			}
			out, err := cmd.CombinedOutput()
			if err == nil || !strings.Contains(string(out), tt.want) {
				t.Fatalf("err = %v, output lacks %q:\n%s", err, tt.want, out)
			}
		})
	}

	t.Run("with the passphrase file the worker runs the one-member ceremony", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		var out syncBuf
		cmd := exec.CommandContext(ctx, medchain(t), append(append([]string{"start", "--home", home}, ports()...), "--keyring-passphrase-file", passFile)...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			_ = cmd.Wait()
			if t.Failed() {
				t.Logf("node output:\n%s", out.String())
			}
		}()
		for !strings.Contains(out.String(), "combined this member's threshold secret") {
			if ctx.Err() != nil {
				t.Fatal("the worker did not finish the ceremony in time")
			}
			time.Sleep(200 * time.Millisecond)
		}
		for _, f := range []string{"he-epoch-1-ceremony.secret", "he-epoch-1-threshold.secret"} {
			fi, err := os.Stat(filepath.Join(home, "keyring", f))
			if err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("%s: %v", f, err)
			}
		}
		if c, k := strings.Count(out.String(), "type=he.key_commit"), strings.Count(out.String(), "type=he.key_share"); c != 1 || k != 1 {
			t.Fatalf("the worker sent %d commitments and %d key shares, want one of each", c, k)
		}
	})
}

// syncBuf collects a child's output for polling.
type syncBuf struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
