package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/keyring"
)

func newInitCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "init --home H --moniker NAME [--chain-id ID]",
		Short: "Create a validator home: CometBFT config, keys, genesis, app.toml and the operator key",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := cmd.Flags()
			moniker, _ := f.GetString("moniker")
			chainID, _ := f.GetString("chain-id")
			hid, _ := f.GetString("hospital-id")
			hname, _ := f.GetString("hospital-name")
			backend, _ := f.GetString("keyring-backend")
			skip, _ := f.GetBool("no-genesis")
			res, err := node.Init(node.InitOptions{
				Home: homeOf(cmd), Moniker: moniker, ChainID: chainID, HospitalID: hid, HospitalName: hname,
				KeyringBackend: backend, Passphrase: promptPassphrase, SkipGenesis: skip,
			})
			if err != nil {
				return err
			}
			return output(cmd, res, func(w io.Writer) {
				fmt.Fprintf(w, "Initialised %s\n  hospital   %s (%s)\n  node id    %s\n  validator  %s\n  operator   %s (key %q in the keyring)\n",
					homeOf(cmd), res.Member.ID, res.Member.Name, res.Member.NodeID,
					base64.StdEncoding.EncodeToString(res.Member.ValidatorPubKey), res.OperatorAddress, node.OperatorKeyName)
				if skip {
					fmt.Fprintln(w, "No genesis written: run `medchain genesis member-info` and send it to the alliance's coordinator.")
				} else {
					fmt.Fprintf(w, "Start it with: medchain start --home %s\n", homeOf(cmd))
				}
			})
		},
	}
	f := cmd.Flags()
	f.String("moniker", "", "node name (required)")
	f.String("chain-id", "medchain-1", "chain id")
	f.String("hospital-id", "", "hospital id in genesis (default: from the moniker)")
	f.String("hospital-name", "", "hospital name in genesis (default: the moniker)")
	f.Bool("no-genesis", false, "do not write a one-member genesis (joining a multi-host alliance)")
	addKeyringFlags(cmd)
	addOutputFlag(cmd)
	_ = cmd.MarkFlagRequired("moniker")
	return cmd
}

func newStartCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "start --home H",
		Short: "Run the validator: CometBFT in-process with the medchain app, until SIGINT/SIGTERM",
		Long: "Runs the validator; the HE worker that takes part in the alliance's key ceremony and\n" +
			"decryption requests when the genesis has an he section; and, unless app.toml disables it,\n" +
			"the hospital's HTTPS gateway (serves vault ciphertext to holders of committed access\n" +
			"entries, publishes its URL and certificate fingerprint on chain) with the erasure shredder.\n" +
			"Both use the operator and seal keys, so the keyring passphrase is asked once on the terminal,\n" +
			"or read from --keyring-passphrase-file (env MEDCHAIN_KEYRING_PASSPHRASE_FILE; mode 0600).",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			conf, err := node.LoadConfig(homeOf(cmd), cmd.Flags())
			if err != nil {
				return err
			}
			conf.BenchKVStore, _ = cmd.Flags().GetBool("bench-kvstore")
			logger, err := node.NewLogger(conf.Comet, os.Stdout)
			if err != nil {
				return err
			}
			backend, _ := cmd.Flags().GetString("keyring-backend")
			passFile, _ := cmd.Flags().GetString("keyring-passphrase-file")
			if passFile == "" {
				passFile = os.Getenv(passphraseFileEnv)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			return node.Run(ctx, conf, logger, node.RunOptions{KeyringBackend: backend, Passphrase: startPassphrase(passFile)})
		},
	}
	node.AddStartFlags(cmd.Flags())
	addKeyringFlags(cmd)
	cmd.Flags().String("keyring-passphrase-file", "", "file holding the keyring passphrase for the HE worker and the gateway (mode 0600; env "+passphraseFileEnv+")")
	cmd.Flags().Bool("bench-kvstore", false, "run CometBFT's kvstore example app instead of medchain (benchmark baseline only)")
	_ = cmd.Flags().MarkHidden("bench-kvstore")
	return cmd
}

func newVersionCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the medchain version and state-machine protocol version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintf(cmd.OutOrStdout(), "medchain %s (app protocol %d)\n", abci.Version, abci.AppVersion)
		},
	}
}

// passphraseFileEnv names the keyring passphrase file when the flag is not set.
const passphraseFileEnv = "MEDCHAIN_KEYRING_PASSPHRASE_FILE"

// startPassphrase is how `medchain start` gets the keyring passphrase:
// from path if given, else from the terminal (or one line of standard
// input). node.Run asks it once, and only if the HE worker or the gateway runs.
func startPassphrase(path string) keyring.PassphraseFunc {
	if path != "" {
		return func(bool) (string, error) { return readPassphraseFile(path) }
	}
	return func(bool) (string, error) {
		p, err := promptPassphrase(false)
		if err != nil {
			return "", fmt.Errorf("%w (or give it with --keyring-passphrase-file)", err)
		}
		return p, nil
	}
}

// readPassphraseFile reads a passphrase from a file readable by its owner
// only, without its final line break.
func readPassphraseFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("keyring passphrase file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("keyring passphrase file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("keyring passphrase file %s is not a regular file", path)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("keyring passphrase file %s has mode %04o and is accessible to group or others; run: chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	raw, err := io.ReadAll(io.LimitReader(f, 4097))
	if err != nil {
		return "", fmt.Errorf("keyring passphrase file %s: %w", path, err)
	}
	if len(raw) > 4096 {
		return "", fmt.Errorf("keyring passphrase file %s is larger than 4 KiB", path)
	}
	p := strings.TrimSuffix(strings.TrimSuffix(string(raw), "\n"), "\r")
	if p == "" {
		return "", fmt.Errorf("keyring passphrase file %s is empty", path)
	}
	return p, nil
}
