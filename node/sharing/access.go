package sharing

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
	"github.com/medchain/medchain/node/recordcrypto"
)

// GatewayRequest asks a custodian's gateway for the ciphertext of a
// committed access entry. The fields match node/gateway's ClientRequest.
type GatewayRequest struct {
	URL        string // the gateway's published URL
	CertSHA256 []byte // the published TLS certificate fingerprint to pin
	HospitalID string // the custodian
	ChainID    string
	AccessID   uint64
	RecordID   string
	Doctor     ed25519.PrivateKey // signs the request; never sent
}

// GatewayResult is a gateway's answer. The fields match node/gateway's
// FetchResult.
type GatewayResult struct {
	Ciphertext  []byte
	ContentHash string // hex SHA-256 of Ciphertext, as the gateway computed it
	KeySource   string // "grant" or "custodian"
	// SealedKey is the data key sealed to the doctor's seal key at serve
	// time; set when KeySource is "custodian".
	SealedKey []byte
}

// GatewayFetcher fetches a ciphertext from a custodian's gateway over
// pinned HTTPS (node/gateway.Fetch in a node; a fake in tests).
type GatewayFetcher func(ctx context.Context, req GatewayRequest) (*GatewayResult, error)

// Key sources as gateways name them.
const (
	KeySourceGrant     = "grant"
	KeySourceCustodian = "custodian"
)

func keySourceName(s pb.KeySource) string {
	switch s {
	case pb.KeySource_KEY_SOURCE_GRANT:
		return KeySourceGrant
	case pb.KeySource_KEY_SOURCE_CUSTODIAN:
		return KeySourceCustodian
	}
	return s.String()
}

// RequestAccess asks to read a record under a grant the doctor holds and
// returns the access entry's id. The chain decides; a denial is a
// *Refusal with code "denied" whose log names the reason (revoked,
// expired, out_of_scope, …), and it is on the ledger for auditors.
func (c *Client) RequestAccess(ctx context.Context, doctor *Identity, recordID string, grant uint64, purpose pb.Purpose) (uint64, error) {
	if _, err := parseHexID("record id", recordID); err != nil {
		return 0, err
	}
	m := &pb.RequestAccess{RecordId: recordID, Grant: grant, Purpose: purpose}
	res, err := c.send(ctx, doctor.Sign, records.TypeAccess, m)
	if err != nil {
		return 0, err
	}
	return eventNumber(res, records.EventAccessed, "id")
}

// BreakGlass reads a record without a grant, for an emergency: the doctor
// needs the emergency duty and a reason; the entry is flagged for review by
// the custodian. Returns the access entry's id.
func (c *Client) BreakGlass(ctx context.Context, doctor *Identity, recordID, reason string) (uint64, error) {
	if _, err := parseHexID("record id", recordID); err != nil {
		return 0, err
	}
	m := &pb.RequestAccess{RecordId: recordID, Purpose: pb.Purpose_PURPOSE_EMERGENCY, BreakGlass: true, Reason: reason}
	res, err := c.send(ctx, doctor.Sign, records.TypeAccess, m)
	if err != nil {
		return 0, err
	}
	return eventNumber(res, records.EventAccessed, "id")
}

// Review closes an open break-glass entry: signer is a reviewer doctor of
// the custodian (not the one who broke the glass) or its operator.
func (c *Client) Review(ctx context.Context, signer ed25519.PrivateKey, accessID uint64, finding pb.Finding, note string) error {
	_, err := c.send(ctx, signer, records.TypeReview, &pb.ReviewBreakGlass{Access: accessID, Finding: finding, Note: note})
	return err
}

// Fetch fetches and decrypts the record of the doctor's access entry
// accessID. It reads the entry, the record and the custodian's published
// gateway from the chain, asks the gateway (pinned to the published
// certificate) for the ciphertext, checks it against the record's content
// hash, opens the data key with the doctor's seal key (the grant's key
// copy, or the copy the gateway sealed for a custodian-keyed entry) and
// decrypts. The plaintext is the record's FHIR JSON: keep it safe.
func (c *Client) Fetch(ctx context.Context, doctor *Identity, accessID uint64) ([]byte, *pb.Record, error) {
	if c.Gateway == nil {
		return nil, nil, errors.New("no gateway client is configured; this build cannot fetch records")
	}
	at, err := c.snapshot(ctx)
	if err != nil {
		return nil, nil, err
	}
	e, err := c.accessAt(ctx, at, accessID)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case e == nil:
		return nil, nil, fmt.Errorf("access %d does not exist; request access first (medchain record fetch --id R --grant G)", accessID)
	case e.Doctor != doctor.Address():
		return nil, nil, fmt.Errorf("access %d is doctor %s's, not key %q's (%s); a gateway serves an entry to its own doctor only", accessID, e.Doctor, doctor.Name, doctor.Address())
	}
	rec, err := c.recordAt(ctx, at, e.RecordId)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case rec == nil:
		return nil, nil, fmt.Errorf("access %d names record %s, which is not on chain", accessID, e.RecordId)
	case rec.Erased:
		return nil, nil, fmt.Errorf("record %s was erased at height %d; it can never be read again", rec.Id, rec.ErasedHeight)
	case rec.Custodian != e.Custodian:
		return nil, nil, fmt.Errorf("access %d names custodian %s, record %s says %s", accessID, e.Custodian, rec.Id, rec.Custodian)
	}
	gw, err := c.gatewayAt(ctx, at, rec.Custodian)
	if err != nil {
		return nil, nil, err
	}
	if gw == nil {
		return nil, nil, fmt.Errorf("hospital %s has published no gateway (its operator sends hospital.gateway); the record cannot be fetched yet", rec.Custodian)
	}
	rid, err := parseHexID("record id", rec.Id)
	if err != nil {
		return nil, nil, err
	}
	var sealed []byte
	if e.KeySource == pb.KeySource_KEY_SOURCE_GRANT {
		// Read before the fetch: a copy erased meanwhile fails here, not
		// after the gateway served.
		sealed, err = c.getRaw(ctx, at, fmt.Sprintf("/records/grantkey/%s/%d", rec.Id, e.Grant))
		if err != nil {
			return nil, nil, err
		}
		if sealed == nil {
			return nil, nil, fmt.Errorf("grant %d holds no key copy for record %s (erased?)", e.Grant, rec.Id)
		}
	}
	res, err := c.Gateway(ctx, GatewayRequest{
		URL: gw.Url, CertSHA256: bytes.Clone(gw.CertSha256), HospitalID: rec.Custodian, ChainID: c.ChainID,
		AccessID: accessID, RecordID: rec.Id, Doctor: doctor.Sign,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("gateway of %s (%s): %w", rec.Custodian, gw.Url, err)
	}
	if res == nil {
		return nil, nil, fmt.Errorf("gateway of %s answered nothing", rec.Custodian)
	}
	sum := sha256.Sum256(res.Ciphertext)
	if !bytes.Equal(sum[:], rec.ContentHash) {
		return nil, nil, fmt.Errorf("gateway of %s served a ciphertext whose SHA-256 %x is not record %s's content hash %x; refusing it", rec.Custodian, sum, rec.Id, rec.ContentHash)
	}
	if res.ContentHash != "" && res.ContentHash != hex.EncodeToString(sum[:]) {
		return nil, nil, fmt.Errorf("gateway of %s reports content hash %q for a ciphertext hashing to %x", rec.Custodian, clip(res.ContentHash), sum)
	}
	if want := keySourceName(e.KeySource); res.KeySource != want {
		return nil, nil, fmt.Errorf("gateway of %s says the key is from %q; access %d says %q", rec.Custodian, clip(res.KeySource), accessID, want)
	}
	if e.KeySource == pb.KeySource_KEY_SOURCE_CUSTODIAN {
		if len(res.SealedKey) != recordcrypto.SealedKeySize {
			return nil, nil, fmt.Errorf("gateway of %s sent a %d-byte sealed key, want %d", rec.Custodian, len(res.SealedKey), recordcrypto.SealedKeySize)
		}
		sealed = res.SealedKey
	}
	key, err := recordcrypto.OpenKey(sealed, rid[:], doctor.SealPriv)
	if err != nil {
		return nil, nil, fmt.Errorf("record %s: the data key does not open with key %q-seal: %w", rec.Id, doctor.Name, err)
	}
	defer clear(key[:])
	pt, err := recordcrypto.DecryptRecord(key, rid[:], res.Ciphertext)
	if err != nil {
		return nil, nil, fmt.Errorf("record %s: %w", rec.Id, err)
	}
	return pt, rec, nil
}
