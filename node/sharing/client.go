package sharing

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"strconv"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/abci"
	"github.com/medchain/medchain/abci/tx"
	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/client"
)

// DefaultTimeout is how long a tx may take to commit when Client.Timeout
// is zero.
const DefaultTimeout = 30 * time.Second

// Chain is what sharing needs of a node: *client.Client implements it.
type Chain interface {
	// Send signs and submits one tx and waits for its commit. A CheckTx
	// refusal is an error; a tx refused in its block is a Result with a
	// non-zero Code.
	Send(ctx context.Context, priv ed25519.PrivateKey, txType string, payload proto.Message, timeout time.Duration) (*client.Result, error)
	// Query reads path at height (0: latest); with prove, the answer's
	// proof is verified against a signed header (Verified).
	Query(ctx context.Context, path string, height int64, prove bool) (*client.QueryResult, error)
}

var _ Chain = (*client.Client)(nil)

// Client runs sharing operations against one node.
type Client struct {
	Chain Chain
	// ChainID goes into gateway requests, which a gateway only serves for
	// its own chain.
	ChainID string
	// Timeout bounds each tx's wait for its commit; 0 is DefaultTimeout.
	Timeout time.Duration
	// Prove makes every single-record read (records, grants, key copies,
	// access entries, gateways, accounts) verify its proof against a header
	// signed by more than 2/3 of the validators, so a lying node cannot
	// redirect a fetch or substitute a key or a content hash.
	Prove bool
	// Gateway fetches ciphertexts from custodians' gateways; Fetch needs it.
	Gateway GatewayFetcher
}

// New returns a Client over c that proves its reads, with the node's chain id.
func New(ctx context.Context, c *client.Client, gw GatewayFetcher) (*Client, error) {
	id, err := c.ChainID(ctx)
	if err != nil {
		return nil, err
	}
	return &Client{Chain: c, ChainID: id, Prove: true, Gateway: gw}, nil
}

// Refusal is a tx the chain refused in its block: it is on the ledger, and
// advanced the signer's nonce, but changed nothing else. It unwraps to the
// *client.CodeError, so callers test codes with CodeName or errors.As.
type Refusal struct {
	TxType string
	Height int64
	Hash   string
	Err    *client.CodeError
}

func (r *Refusal) Error() string {
	return fmt.Sprintf("%s refused in block %d (code %d): %s", r.TxType, r.Height, r.Err.Code, r.Err.Log)
}

func (r *Refusal) Unwrap() error { return r.Err }

// CodeName returns the name in abci.Codes ("denied", "unauthorized",
// "invalid_payload", …) of the chain's refusal err carries, from CheckTx,
// a block or a query; "" when err is no refusal by the chain.
func CodeName(err error) string {
	var ce *client.CodeError
	if !errors.As(err, &ce) {
		return ""
	}
	for _, e := range abci.Codes {
		if e.Code == ce.Code {
			return e.Name
		}
	}
	if ce.Code == abci.CodeInternal {
		return "internal"
	}
	return "code " + strconv.FormatUint(uint64(ce.Code), 10)
}

func (c *Client) timeout() time.Duration {
	if c.Timeout > 0 {
		return c.Timeout
	}
	return DefaultTimeout
}

// checker runs the records contract's stateless checks, the ones CheckTx
// runs, before anything is sealed or sent.
var checker = contracts.NewRouter(records.Handlers()...)

func precheck(txType string, m proto.Message) error {
	bz, err := proto.Marshal(m)
	if err != nil {
		return fmt.Errorf("sharing: encode %s: %w", txType, err)
	}
	if _, err := checker.Prepare(txType, bz); err != nil {
		return err
	}
	return nil
}

// send prechecks and submits one tx signed by signer; a refusal in the
// block is a *Refusal.
func (c *Client) send(ctx context.Context, signer ed25519.PrivateKey, txType string, m proto.Message) (*client.Result, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%s: the signing key is %d bytes, want an ed25519 private key", txType, len(signer))
	}
	if err := precheck(txType, m); err != nil {
		return nil, err
	}
	res, err := c.Chain.Send(ctx, signer, txType, m, c.timeout())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", txType, err)
	}
	if res.Code != 0 {
		return nil, &Refusal{TxType: txType, Height: res.Height, Hash: res.Hash.String(),
			Err: &client.CodeError{Code: res.Code, Codespace: abci.Codespace, Log: res.Log, Stage: "deliver"}}
	}
	return res, nil
}

// eventNumber returns the numeric attribute key of the first event typ.
func eventNumber(res *client.Result, typ, key string) (uint64, error) {
	for _, e := range res.Events {
		if e.Type != typ {
			continue
		}
		if v, ok := e.Attrs[key]; ok {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("event %s: %s %q is not a number", typ, key, v)
			}
			return n, nil
		}
	}
	return 0, fmt.Errorf("the committed tx at height %d has no %s event with %s", res.Height, typ, key)
}

// get reads the single record at path at height at (0: latest) into m;
// false when absent.
func (c *Client) get(ctx context.Context, at int64, path string, m proto.Message) (bool, error) {
	v, err := c.getRaw(ctx, at, path)
	if err != nil || v == nil {
		return false, err
	}
	if err := tx.Unmarshal(v, m); err != nil {
		return false, fmt.Errorf("%s: the node answered an undecodable %T: %w", path, m, err)
	}
	return true, nil
}

// getRaw reads the raw value at path at height at (nil when absent),
// proved if c.Prove.
func (c *Client) getRaw(ctx context.Context, at int64, path string) ([]byte, error) {
	q, err := c.Chain.Query(ctx, path, at, c.Prove)
	if err != nil {
		return nil, err
	}
	if c.Prove && !q.Verified {
		return nil, fmt.Errorf("%s: the node's answer carries no verified proof", path)
	}
	return q.Value, nil
}

// list reads a list path (lists carry no proof) at height at into m.
func (c *Client) list(ctx context.Context, at int64, path string, m proto.Message) error {
	q, err := c.Chain.Query(ctx, path, at, false)
	if err != nil {
		return err
	}
	if err := tx.Unmarshal(q.Value, m); err != nil {
		return fmt.Errorf("%s: the node answered an undecodable %T: %w", path, m, err)
	}
	return nil
}

// snapshot pins the height an operation reads at: every read of one
// operation sees the same state, and with proofs only the first waits for
// the header that signs it. 0 (latest) when reads are not proved.
func (c *Client) snapshot(ctx context.Context) (int64, error) {
	if !c.Prove {
		return 0, nil
	}
	return c.Height(ctx)
}

// Height is the latest committed height the node reports.
func (c *Client) Height(ctx context.Context) (int64, error) {
	q, err := c.Chain.Query(ctx, "/params", 0, false)
	if err != nil {
		return 0, err
	}
	return q.Height, nil
}

// Account reads an account; nil when there is none.
func (c *Client) Account(ctx context.Context, addr string) (*pb.Account, error) {
	return c.accountAt(ctx, 0, addr)
}

func (c *Client) accountAt(ctx context.Context, at int64, addr string) (*pb.Account, error) {
	if _, err := pb.ParseAddress(addr); err != nil {
		return nil, err
	}
	var a pb.Account
	ok, err := c.get(ctx, at, "/account/"+addr, &a)
	if !ok || err != nil {
		return nil, err
	}
	return &a, nil
}

// Record reads a record; nil when there is none.
func (c *Client) Record(ctx context.Context, recordID string) (*pb.Record, error) {
	return c.recordAt(ctx, 0, recordID)
}

func (c *Client) recordAt(ctx context.Context, at int64, recordID string) (*pb.Record, error) {
	if _, err := parseHexID("record id", recordID); err != nil {
		return nil, err
	}
	var r pb.Record
	ok, err := c.get(ctx, at, "/records/record/"+recordID, &r)
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

// Grant reads a grant or forward; nil when there is none.
func (c *Client) Grant(ctx context.Context, id uint64) (*pb.Grant, error) {
	return c.grantAt(ctx, 0, id)
}

func (c *Client) grantAt(ctx context.Context, at int64, id uint64) (*pb.Grant, error) {
	var g pb.Grant
	ok, err := c.get(ctx, at, fmt.Sprintf("/records/grant/%d", id), &g)
	if !ok || err != nil {
		return nil, err
	}
	return &g, nil
}

// Access reads an access entry; nil when there is none.
func (c *Client) Access(ctx context.Context, id uint64) (*pb.AccessEntry, error) {
	return c.accessAt(ctx, 0, id)
}

func (c *Client) accessAt(ctx context.Context, at int64, id uint64) (*pb.AccessEntry, error) {
	var e pb.AccessEntry
	ok, err := c.get(ctx, at, fmt.Sprintf("/records/access/%d", id), &e)
	if !ok || err != nil {
		return nil, err
	}
	return &e, nil
}

// GatewayOf reads a hospital's published gateway; nil when it has none.
func (c *Client) GatewayOf(ctx context.Context, hospital string) (*pb.Gateway, error) {
	return c.gatewayAt(ctx, 0, hospital)
}

func (c *Client) gatewayAt(ctx context.Context, at int64, hospital string) (*pb.Gateway, error) {
	if err := CheckHospitalID(hospital); err != nil {
		return nil, err
	}
	var g pb.Gateway
	ok, err := c.get(ctx, at, "/records/gateway/"+hospital, &g)
	if !ok || err != nil {
		return nil, err
	}
	return &g, nil
}
