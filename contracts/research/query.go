package research

import (
	"errors"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/proto"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/pb"
)

// QueryPaths documents the "/research/..." query paths.
var QueryPaths = []string{
	"/research/query/<id>                   a research query and its progress (pb.ResearchQuery; a released plaintext-baseline query's sums in plain_result)",
	"/research/contribution/<id>/<member>   a member's contribution to a query (pb.Contribution)",
	"/research/budget/<address>             a researcher's budget ledger (pb.Budget; none: never spent)",
	"/research/active                       queries in progress (pb.ResearchQueryList, no proof)",
	"/research/by/<address>                 a researcher's queries (pb.ResearchQueryList, no proof)",
	"/research/subjects/<hospital>/<height> the pseudonyms a hospital answers for at a height (pb.ResearchSubjects, no proof)",
}

// ErrBadPath wraps every refusal of a "/research/..." path.
var ErrBadPath = errors.New("bad /research query path")

func num(what, s string) (uint64, error) {
	n, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%w: %s %q is not a number", ErrBadPath, what, s)
	}
	return n, nil
}

// PathKey returns the state key of a single-record "/research/..." path
// (parts after "research").
func PathKey(parts []string) ([]byte, error) {
	switch {
	case len(parts) == 2 && parts[0] == "query":
		id, err := num("query id", parts[1])
		if err != nil {
			return nil, err
		}
		return QueryKey(id), nil
	case len(parts) == 3 && parts[0] == "contribution":
		id, err := num("query id", parts[1])
		if err != nil {
			return nil, err
		}
		m, err := num("member", parts[2])
		if err != nil {
			return nil, err
		}
		return ContributionKey(id, m), nil
	case len(parts) == 2 && parts[0] == "budget":
		a, err := pb.ParseAddress(parts[1])
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadPath, err)
		}
		return BudgetKey(a), nil
	}
	return nil, fmt.Errorf("%w: unknown path /research/%v", ErrBadPath, parts)
}

// IsListPath reports whether parts (after "research") is a list path.
func IsListPath(parts []string) bool {
	return len(parts) == 1 && parts[0] == "active" || len(parts) == 2 && parts[0] == "by" ||
		len(parts) == 3 && parts[0] == "subjects"
}

// QueryList answers a list path.
func QueryList(r contracts.Reader, parts []string) (proto.Message, error) {
	if len(parts) == 1 {
		qs, err := ActiveQueries(r)
		return &pb.ResearchQueryList{Queries: qs}, err
	}
	if parts[0] == "subjects" {
		h, err := strconv.ParseInt(parts[2], 10, 64)
		if err != nil || h < 1 {
			return nil, fmt.Errorf("%w: height %q is not a positive number", ErrBadPath, parts[2])
		}
		ps, err := Subjects(r, parts[1], h)
		return &pb.ResearchSubjects{Pseudonyms: ps}, err
	}
	a, err := pb.ParseAddress(parts[1])
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadPath, err)
	}
	prefix := append([]byte{prefixByResearcher}, a[:]...)
	end := append(append([]byte{}, prefix...), 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff)
	ids, err := contracts.IDsIn(r, prefix, end)
	if err != nil {
		return nil, err
	}
	qs, err := queriesByID(r, ids)
	return &pb.ResearchQueryList{Queries: qs}, err
}
