package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/medchain/medchain/node/keyring"
)

func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:           "medchain",
		Short:         "Node software of a medical alliance chain",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().String("home", defaultHome(), "node home folder (env MEDCHAIN_HOME)")
	root.AddCommand(newInitCmd(), newStartCmd(), newKeysCmd(), newTxCmd(), newQueryCmd(),
		newStatusCmd(), newGenesisCmd(), newHECmd(), newResearchCmd(), newLocalnetCmd(), newDemoCmd(), newVersionCmd(), newSynthCmd(), newIngestCmd(),
		newDoctorCmd(), newPatientCmd(), newRecordCmd(), newGrantCmd(), newBreakGlassCmd(), newPepperCmd(), newGovCmd(), newAuditCmd())
	return root
}

func defaultHome() string {
	if h := os.Getenv("MEDCHAIN_HOME"); h != "" {
		return h
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".medchain")
	}
	return ".medchain"
}

func homeOf(cmd *cobra.Command) string {
	h, _ := cmd.Flags().GetString("home")
	return h
}

// addKeyringFlags registers --keyring-backend.
func addKeyringFlags(cmd *cobra.Command) {
	cmd.Flags().String("keyring-backend", keyring.BackendFile,
		"file (encrypted with a passphrase) or test (fixed passphrase: unattended scripts and tests only)")
}

func openKeyring(cmd *cobra.Command) (*keyring.Keyring, error) {
	backend, _ := cmd.Flags().GetString("keyring-backend")
	return keyring.Open(filepath.Join(homeOf(cmd), "keyring"), backend, promptPassphrase)
}

var stdinLines *bufio.Reader

// promptPassphrase asks on the terminal, or reads one line per answer from
// standard input when it is not a terminal (for scripts: printf 'p\np\n' |).
func promptPassphrase(confirm bool) (string, error) {
	fd := int(os.Stdin.Fd())
	if term.IsTerminal(fd) {
		fmt.Fprint(os.Stderr, "Keyring passphrase: ")
		p, err := term.ReadPassword(fd)
		fmt.Fprintln(os.Stderr)
		if err != nil {
			return "", err
		}
		if confirm {
			fmt.Fprint(os.Stderr, "Repeat passphrase: ")
			q, err := term.ReadPassword(fd)
			fmt.Fprintln(os.Stderr)
			if err != nil {
				return "", err
			}
			if string(p) != string(q) {
				return "", errors.New("the two passphrases differ")
			}
		}
		return string(p), nil
	}
	if stdinLines == nil {
		stdinLines = bufio.NewReader(os.Stdin)
	}
	read := func() (string, error) {
		l, err := stdinLines.ReadString('\n')
		if err != nil && (err != io.EOF || l == "") {
			return "", errors.New("no passphrase on standard input (give one line per prompt, or use a terminal)")
		}
		return strings.TrimRight(l, "\r\n"), nil
	}
	p, err := read()
	if err != nil || !confirm {
		return p, err
	}
	q, err := read()
	if err != nil {
		return "", err
	}
	if p != q {
		return "", errors.New("the two passphrases differ")
	}
	return p, nil
}

// output prints v as JSON when -o json, else calls text.
func output(cmd *cobra.Command, v any, text func(w io.Writer)) error {
	o, _ := cmd.Flags().GetString("output")
	switch o {
	case "json":
		enc := json.NewEncoder(cmd.OutOrStdout())
		enc.SetIndent("", "  ")
		return enc.Encode(v)
	case "text", "":
		text(cmd.OutOrStdout())
		return nil
	}
	return fmt.Errorf("--output %q: use text or json", o)
}

func addOutputFlag(cmd *cobra.Command) {
	cmd.Flags().StringP("output", "o", "text", "output format: text or json")
}
