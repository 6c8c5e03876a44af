package sharing

import (
	"context"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
)

// ListRecords lists every record about a patient, at every hospital.
func (c *Client) ListRecords(ctx context.Context, pseudonym string) ([]*pb.Record, error) {
	return c.recordsOf(ctx, 0, pseudonym)
}

func (c *Client) recordsOf(ctx context.Context, at int64, pseudonym string) ([]*pb.Record, error) {
	if _, err := parseHexID("pseudonym", pseudonym); err != nil {
		return nil, err
	}
	var l pb.RecordList
	err := c.list(ctx, at, "/records/patient/"+pseudonym+"/records", &l)
	return l.Records, err
}

// Grants lists every grant and forward of a patient's trees.
func (c *Client) Grants(ctx context.Context, pseudonym string) ([]*pb.Grant, error) {
	if _, err := parseHexID("pseudonym", pseudonym); err != nil {
		return nil, err
	}
	var l pb.GrantList
	err := c.list(ctx, 0, "/records/patient/"+pseudonym+"/grants", &l)
	return l.Grants, err
}

// GranteeGrants lists the grants and forwards a doctor received.
func (c *Client) GranteeGrants(ctx context.Context, doctor string) ([]*pb.Grant, error) {
	if _, err := ParseAddress(doctor); err != nil {
		return nil, err
	}
	var l pb.GrantList
	err := c.list(ctx, 0, "/records/grantee/"+doctor+"/grants", &l)
	return l.Grants, err
}

// Accesses lists a record's access entries: who read it, when, under what.
func (c *Client) Accesses(ctx context.Context, recordID string) ([]*pb.AccessEntry, error) {
	if _, err := parseHexID("record id", recordID); err != nil {
		return nil, err
	}
	var l pb.AccessList
	err := c.list(ctx, 0, "/records/record/"+recordID+"/accesses", &l)
	return l.Entries, err
}

// DoctorAccesses lists a doctor's access entries.
func (c *Client) DoctorAccesses(ctx context.Context, doctor string) ([]*pb.AccessEntry, error) {
	if _, err := ParseAddress(doctor); err != nil {
		return nil, err
	}
	var l pb.AccessList
	err := c.list(ctx, 0, "/records/doctor/"+doctor+"/accesses", &l)
	return l.Entries, err
}

// OpenReviews lists break-glass entries awaiting review: of records kept
// by hospital, or of every hospital when hospital is "".
func (c *Client) OpenReviews(ctx context.Context, hospital string) ([]*pb.AccessEntry, error) {
	path := "/records/reviews/open"
	if hospital != "" {
		if err := CheckHospitalID(hospital); err != nil {
			return nil, err
		}
		path += "/" + hospital
	}
	var l pb.AccessList
	if err := c.list(ctx, 0, path, &l); err != nil {
		return nil, fmt.Errorf("open reviews: %w", err)
	}
	return l.Entries, nil
}
