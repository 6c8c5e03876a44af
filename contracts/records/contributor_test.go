package records

import (
	"testing"

	"github.com/medchain/medchain/contracts/pb"
)

func TestContributorIsTheHospitalWithTheEarliestEncounter(t *testing.T) {
	index := map[string]uint64{"h0": 1, "h1": 2, "h2": 3}
	enc := func(custodian string, date uint32) *pb.Record {
		return &pb.Record{Custodian: custodian, Date: date, ResourceTypes: []string{"Encounter"}}
	}
	obs := func(custodian string, date uint32) *pb.Record {
		return &pb.Record{Custodian: custodian, Date: date, ResourceTypes: []string{"Observation"}}
	}
	cases := []struct {
		name      string
		recs      []*pb.Record
		hospitals []string
		want      string
	}{
		{"the earlier first encounter wins", []*pb.Record{enc("h0", 20200105), enc("h1", 20190101), enc("h0", 20180101)}, []string{"h0", "h1"}, "h0"},
		{"a tie goes to the lower member index", []*pb.Record{enc("h1", 20200101), enc("h0", 20200101)}, []string{"h1", "h0"}, "h0"},
		{"observations do not count as first records", []*pb.Record{obs("h1", 20000101), enc("h1", 20210101), enc("h0", 20200101)}, []string{"h0", "h1"}, "h0"},
		{"an erased encounter does not count", []*pb.Record{{Custodian: "h0", Date: 19990101, ResourceTypes: []string{"Encounter"}, Erased: true}, enc("h0", 20220101), enc("h2", 20210101)}, []string{"h0", "h2"}, "h2"},
		{"a hospital without an encounter loses to one with", []*pb.Record{enc("h2", 20230101)}, []string{"h0", "h2"}, "h2"},
		{"without any encounter the lowest index contributes", nil, []string{"h2", "h1"}, "h1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Contributor(tc.recs, tc.hospitals, index); got != tc.want {
				t.Fatalf("contributor = %s, want %s", got, tc.want)
			}
		})
	}
}
