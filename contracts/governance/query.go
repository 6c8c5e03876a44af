package governance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// QueryPaths documents the "/gov/..." query paths.
var QueryPaths = []string{
	"/gov/proposal/<id>       a governance proposal, its votes and outcome (pb.Proposal)",
	"/gov/proposals           the newest 100 proposals, newest first (pb.ProposalList, no proof)",
}

// ErrBadPath wraps every refusal of a "/gov/..." path.
var ErrBadPath = errors.New("bad /gov query path")

// PathKey returns the state key of a single-record "/gov/..." path (parts
// after "gov").
func PathKey(parts []string) ([]byte, error) {
	if len(parts) == 2 && parts[0] == "proposal" {
		id, err := strconv.ParseUint(parts[1], 10, 64)
		if err != nil || id == 0 {
			return nil, fmt.Errorf("%w: proposal id %q is not a number from 1", ErrBadPath, parts[1])
		}
		return ProposalKey(id), nil
	}
	return nil, unknown(parts)
}

// IsListPath reports whether parts (after "gov") name a list.
func IsListPath(parts []string) bool { return len(parts) == 1 && parts[0] == "proposals" }

// QueryList answers a list path.
func QueryList(r contracts.Reader, parts []string) (proto.Message, error) {
	if !IsListPath(parts) {
		return nil, unknown(parts)
	}
	ps, err := Proposals(r, MaxListed)
	if err != nil {
		return nil, err
	}
	return &pb.ProposalList{Proposals: ps}, nil
}

func unknown(parts []string) error {
	return fmt.Errorf("%w: unknown path /gov/%s; known: /gov/proposal/<id>, /gov/proposals", ErrBadPath, strings.Join(parts, "/"))
}
