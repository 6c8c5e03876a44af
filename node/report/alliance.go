package report

import (
	"errors"
	"fmt"

	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/query"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/he"
)

// ErrNoResearch: the alliance's parameters have no HE or research
// section, so it answers no research query.
var ErrNoResearch = errors.New("this alliance has no research parameters in genesis (no \"he\" and \"research\" sections)")

// HELiteral returns the HE parameter literal pinned in the alliance's
// parameters (the "/params" record).
func HELiteral(ap *pb.Params) (he.ParamsLiteral, error) {
	hp := ap.GetHe()
	if hp == nil {
		return he.ParamsLiteral{}, ErrNoResearch
	}
	return he.ParamsLiteral{LogN: int(hp.LogN), Q: hp.Q, T: hp.T}, nil
}

// HEParams builds the alliance's HE parameters from its "/params" record.
func HEParams(ap *pb.Params) (*he.Params, error) {
	lit, err := HELiteral(ap)
	if err != nil {
		return nil, err
	}
	p, err := he.NewParams(lit)
	if err != nil {
		return nil, fmt.Errorf("the alliance's HE parameters: %w", err)
	}
	return p, nil
}

// Limits returns the query limits of the alliance whose "/params" record
// is ap and whose HE parameters are p (HEParams(ap)): the same as
// contracts/research.Limits computes from state, so the researcher lays
// out a result exactly as the hospitals and the contract did.
func Limits(ap *pb.Params, p *he.Params) (query.Limits, error) {
	rp := ap.GetResearch()
	if rp == nil || ap.GetHe() == nil {
		return query.Limits{}, ErrNoResearch
	}
	return research.LimitsOf(p, rp), nil
}

// Alliance returns the HE parameters and the query limits of the alliance
// whose "/params" record is ap.
func Alliance(ap *pb.Params) (*he.Params, query.Limits, error) {
	p, err := HEParams(ap)
	if err != nil {
		return nil, query.Limits{}, err
	}
	lim, err := Limits(ap, p)
	return p, lim, err
}
