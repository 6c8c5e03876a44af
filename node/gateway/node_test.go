package gateway_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	"github.com/cometbft/cometbft/libs/log"
	"github.com/spf13/pflag"
	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node"
	"github.com/medchain/medchain/node/client"
	"github.com/medchain/medchain/node/gateway"
	"github.com/medchain/medchain/node/internal/testenv"
	"github.com/medchain/medchain/node/keyring"
	"github.com/medchain/medchain/node/recordcrypto"
	"github.com/medchain/medchain/node/vault"
)

// newHome inits a one-validator home on free loopback ports, the gateway's
// included.
func newHome(t *testing.T) (home string, rpcURL string, gatewayListen string) {
	t.Helper()
	home = filepath.Join(t.TempDir(), "home")
	rpcPort, p2pPort := testenv.FreePort(t), testenv.FreePort(t)
	_, err := node.Init(node.InitOptions{
		Home: home, Moniker: "solo", ChainID: "medchain-gw", KeyringBackend: keyring.BackendTest,
		Tune: func(c *cmtcfg.Config) {
			node.TuneLocal(c)
			c.RPC.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", rpcPort)
			c.P2P.ListenAddress = fmt.Sprintf("tcp://127.0.0.1:%d", p2pPort)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	app := node.DefaultAppConfig()
	app.Gateway.Listen = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	if err := node.WriteAppConfig(node.AppConfigPath(home), app); err != nil {
		t.Fatal(err)
	}
	return home, fmt.Sprintf("http://127.0.0.1:%d", rpcPort), app.Gateway.Listen
}

// TestGatewayConfig: the [gateway] section of app.toml, its defaults for
// homes written before it existed, its overrides, and its refusals.
func TestGatewayConfig(t *testing.T) {
	home, _, listen := newHome(t)
	t.Run("init creates the certificate with a private key", func(t *testing.T) {
		st, err := os.Stat(filepath.Join(home, "config", "gateway_key.pem"))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%v %v", st, err)
		}
		if _, err := gateway.CertFingerprint(filepath.Join(home, "config", "gateway_cert.pem")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("app.toml round-trips the section", func(t *testing.T) {
		c, err := node.LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		g := c.App.Gateway
		if !g.Enable || g.Listen != listen || g.URL() != "https://"+listen || strings.Join(g.CertHosts, ",") != "127.0.0.1,localhost" ||
			g.CertPath(home) != filepath.Join(home, "config", "gateway_cert.pem") {
			t.Fatalf("%+v", g)
		}
	})
	t.Run("a home without the section gets the defaults", func(t *testing.T) {
		if err := os.WriteFile(node.AppConfigPath(home), []byte("[state]\nkeep_recent = 0\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := node.LoadConfig(home, nil)
		if err != nil {
			t.Fatal(err)
		}
		if !c.App.Gateway.Enable || c.App.Gateway.Listen != node.DefaultGatewayListen {
			t.Fatalf("%+v", c.App.Gateway)
		}
	})
	t.Run("env and flags override the file", func(t *testing.T) {
		t.Setenv("MEDCHAIN_GATEWAY_CERT_HOSTS", "gw.example,10.0.0.1")
		t.Setenv("MEDCHAIN_GATEWAY_PUBLIC_URL", "https://gw.example:443")
		fs := pflag.NewFlagSet("start", pflag.ContinueOnError)
		node.AddStartFlags(fs)
		if err := fs.Parse([]string{"--gateway.listen=127.0.0.1:7443"}); err != nil {
			t.Fatal(err)
		}
		c, err := node.LoadConfig(home, fs)
		if err != nil {
			t.Fatal(err)
		}
		g := c.App.Gateway
		if g.Listen != "127.0.0.1:7443" || g.URL() != "https://gw.example:443" || strings.Join(g.CertHosts, ",") != "gw.example,10.0.0.1" {
			t.Fatalf("%+v", g)
		}
	})
	for _, tc := range []struct {
		name, toml, want string
	}{
		{"a listen address without a port is refused", `listen = "127.0.0.1"`, "gateway.listen"},
		{"listening on every interface needs a public url", `listen = "0.0.0.0:26680"`, "gateway.public_url"},
		{"an http public url is refused", "public_url = \"http://gw.example\"", "gateway.public_url"},
		{"an empty host list is refused", `cert_hosts = []`, "gateway.cert_hosts"},
		{"an unknown key is refused", `bogus = 1`, "bogus"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.WriteFile(node.AppConfigPath(home), []byte("[gateway]\n"+tc.toml+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := node.LoadConfig(home, nil); err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "app.toml") {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// actor is an account holder with a signing key and a seal key.
type actor struct {
	sign    ed25519.PrivateKey
	addr    string
	sealKey [32]byte
	sealPub [32]byte
}

func newActor(t *testing.T) *actor {
	_, sign, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	var seed [32]byte
	if _, err := rand.Read(seed[:]); err != nil {
		t.Fatal(err)
	}
	a := &actor{sign: sign, addr: pb.AddressOf(sign.Public().(ed25519.PublicKey))}
	a.sealKey, a.sealPub = recordcrypto.SealKeyPair(seed)
	return a
}

// send submits a tx and waits for its commit, retrying while another
// sender with the same key (the node's own workers use the operator key)
// holds the nonce.
func send(ctx context.Context, t *testing.T, c *client.Client, priv ed25519.PrivateKey, typ string, m proto.Message) *client.Result {
	t.Helper()
	for {
		res, err := c.Send(ctx, priv, typ, m, 30*time.Second)
		var ce *client.CodeError
		switch {
		case err == nil && res.Code == 0:
			return res
		case err == nil:
			t.Fatalf("%s refused in its block: code %d: %s", typ, res.Code, res.Log)
		case errors.As(err, &ce) && strings.HasPrefix(ce.Log, "nonce_"):
		default:
			t.Fatalf("%s: %v", typ, err)
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s: %v", typ, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func eventAttr(t *testing.T, res *client.Result, typ, key string) string {
	t.Helper()
	for _, e := range res.Events {
		if e.Type == typ {
			return e.Attrs[key]
		}
	}
	t.Fatalf("no %s event", typ)
	return ""
}

// openVault opens the home's vault, waiting while the node holds it.
func openVault(ctx context.Context, t *testing.T, home string) *vault.Vault {
	t.Helper()
	for {
		v, err := vault.Open(home)
		if err == nil {
			return v
		}
		if !strings.Contains(err.Error(), "in use by another process") {
			t.Fatal(err)
		}
		select {
		case <-ctx.Done():
			t.Fatal("the node never let go of the vault")
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// TestGatewayOnARealNode runs `medchain start`'s services on a real
// one-validator node: the gateway publishes itself on chain, serves a
// break-glass and a grant read over pinned TLS to a doctor who decrypts
// them, answers 410 once the patient erases the record, and the shredder
// destroys the vault copy.
func TestGatewayOnARealNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	home, rpcURL, _ := newHome(t)
	conf, err := node.LoadConfig(home, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	logger := log.NewNopLogger()
	if os.Getenv("GATEWAY_TEST_LOG") != "" {
		logger = log.NewTMLogger(log.NewSyncWriter(os.Stderr))
	}
	go func() { done <- node.Run(runCtx, conf, logger, node.RunOptions{KeyringBackend: keyring.BackendTest}) }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	}()
	c, err := client.Dial(rpcURL)
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.Open(node.KeyringDir(home), keyring.BackendTest, nil)
	if err != nil {
		t.Fatal(err)
	}
	operator, err := kr.Signer(node.OperatorKeyName)
	if err != nil {
		t.Fatal(err)
	}
	hospitalSeal, err := kr.Signer(node.SealKeyName)
	if err != nil {
		t.Fatal(err)
	}
	_, hospitalSealPub := recordcrypto.SealKeyPair([32]byte(hospitalSeal.Seed()))
	const hospital = "solo"

	// The gateway publishes its URL and certificate once the node runs.
	fp, err := gateway.CertFingerprint(conf.App.Gateway.CertPath(home))
	if err != nil {
		t.Fatal(err)
	}
	var gw pb.Gateway
	for {
		q, err := c.Query(ctx, "/records/gateway/"+hospital, 0, false)
		if err == nil && q.Value != nil {
			if err := tx.Unmarshal(q.Value, &gw); err != nil {
				t.Fatal(err)
			}
			break
		}
		select {
		case <-ctx.Done():
			t.Fatal("the gateway was never published on chain")
		case <-time.After(100 * time.Millisecond):
		}
	}
	if gw.Url != conf.App.Gateway.URL() || !bytes.Equal(gw.CertSha256, fp) {
		t.Fatalf("published %s %x, want %s %x", gw.Url, gw.CertSha256, conf.App.Gateway.URL(), fp)
	}

	doctor, patient := newActor(t), newActor(t)
	send(ctx, t, c, operator, records.TypeEnrolDoctor, &pb.EnrolDoctor{
		Pubkey: doctor.sign.Public().(ed25519.PublicKey), SealPubkey: doctor.sealPub[:], Label: "er-1", Emergency: true,
	})
	var pid [32]byte
	if _, err := rand.Read(pid[:]); err != nil {
		t.Fatal(err)
	}
	pseudonym := hex.EncodeToString(pid[:])
	send(ctx, t, c, operator, records.TypeEnrolPatient, &pb.EnrolPatient{
		Pseudonym: pseudonym, Pubkey: patient.sign.Public().(ed25519.PublicKey), SealPubkey: patient.sealPub[:],
	})

	// The relay's part: encrypt, vault, register.
	plain := []byte(`{"resourceType":"Bundle","type":"collection"}`)
	var rid [32]byte
	if _, err := rand.Read(rid[:]); err != nil {
		t.Fatal(err)
	}
	ridHex := hex.EncodeToString(rid[:])
	key, _ := recordcrypto.NewDataKey()
	ct, err := recordcrypto.EncryptRecord(key, rid[:], plain)
	if err != nil {
		t.Fatal(err)
	}
	toCustodian, _ := recordcrypto.SealKey(key, rid[:], hospitalSealPub)
	toPatient, _ := recordcrypto.SealKey(key, rid[:], patient.sealPub)
	if err := vault.EnsureKeys(home); err != nil {
		t.Fatal(err)
	}
	v := openVault(ctx, t, home)
	if err := v.Put(rid[:], ct, toCustodian); err != nil {
		t.Fatal(err)
	}
	v.Close()
	hash := recordcrypto.ContentHash(ct)
	send(ctx, t, c, operator, records.TypeRegister, &pb.RegisterRecord{
		RecordId: ridHex, Pseudonym: pseudonym, ResourceTypes: []string{"Encounter"}, ContentHash: hash[:],
		Size: uint64(len(ct)), Date: 20240101, SealedKeyPatient: toPatient, SealedKeyCustodian: toCustodian,
	})
	fetch := func(access uint64) (*gateway.FetchResult, error) {
		return gateway.Fetch(ctx, gateway.ClientRequest{
			URL: gw.Url, CertSHA256: gw.CertSha256, HospitalID: hospital, ChainID: "medchain-gw",
			AccessID: access, RecordID: ridHex, Doctor: doctor.sign,
		})
	}
	decrypt := func(res *gateway.FetchResult, sealed []byte) {
		t.Helper()
		k, err := recordcrypto.OpenKey(sealed, rid[:], doctor.sealKey)
		if err != nil {
			t.Fatal(err)
		}
		got, err := recordcrypto.DecryptRecord(k, rid[:], res.Ciphertext)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("decrypted %q, %v", got, err)
		}
	}

	var glassAccess uint64
	t.Run("a break-glass read is served with the custodian's key re-sealed", func(t *testing.T) {
		res := send(ctx, t, c, doctor.sign, records.TypeAccess, &pb.RequestAccess{
			RecordId: ridHex, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: "unconscious in the ER",
		})
		glassAccess, _ = strconv.ParseUint(eventAttr(t, res, records.EventAccessed, "id"), 10, 64)
		got, err := fetch(glassAccess)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeySource != gateway.KeySourceCustodian {
			t.Fatalf("key source %s", got.KeySource)
		}
		decrypt(got, got.SealedKey)
	})
	t.Run("a grant read is served and opens with the grant's key copy", func(t *testing.T) {
		st, err := c.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		toDoctor, _ := recordcrypto.SealKey(key, rid[:], doctor.sealPub)
		res := send(ctx, t, c, patient.sign, records.TypeGrant, &pb.CreateGrant{
			Grantee: doctor.addr, Scope: &pb.GrantScope{RecordIds: []string{ridHex}},
			Purposes: []pb.Purpose{pb.Purpose_PURPOSE_TREATMENT}, ExpiryHeight: st.SyncInfo.LatestBlockHeight + 10_000,
			Keys: []*pb.SealedKey{{RecordId: ridHex, Sealed: toDoctor}},
		})
		grant, _ := strconv.ParseUint(eventAttr(t, res, records.EventGranted, "id"), 10, 64)
		res = send(ctx, t, c, doctor.sign, records.TypeAccess, &pb.RequestAccess{
			RecordId: ridHex, Purpose: pb.Purpose_PURPOSE_TREATMENT, Grant: grant,
		})
		access, _ := strconv.ParseUint(eventAttr(t, res, records.EventAccessed, "id"), 10, 64)
		got, err := fetch(access)
		if err != nil {
			t.Fatal(err)
		}
		if got.KeySource != gateway.KeySourceGrant {
			t.Fatalf("key source %s", got.KeySource)
		}
		q, err := c.Query(ctx, fmt.Sprintf("/records/grantkey/%s/%d", ridHex, grant), 0, false)
		if err != nil {
			t.Fatal(err)
		}
		decrypt(got, q.Value)
	})
	t.Run("after the patient erases the record it is gone and the vault copy is shredded", func(t *testing.T) {
		send(ctx, t, c, patient.sign, records.TypeErase, &pb.EraseRecord{RecordId: ridHex})
		_, err := fetch(glassAccess)
		if !errors.Is(err, gateway.ErrGone) {
			t.Fatalf("got %v, want gone", err)
		}
		for {
			v := openVault(ctx, t, home)
			_, _, err := v.Get(rid[:])
			v.Close()
			if errors.Is(err, vault.ErrErased) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			select {
			case <-ctx.Done():
				t.Fatal("the shredder never erased the vault copy")
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
}
