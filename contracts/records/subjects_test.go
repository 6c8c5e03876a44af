package records_test

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/records"
)

// bruteSubjects is the definition the index must agree with: every
// patient whose latest choice is opt-in, under records.Contributor of its
// records.
func bruteSubjects(t *testing.T, w *world) map[string][]string {
	t.Helper()
	hs, err := accounts.Hospitals(w.store)
	if err != nil {
		t.Fatal(err)
	}
	index := map[string]uint64{}
	for _, h := range hs {
		index[h.Id] = h.MemberIndex
	}
	out := map[string][]string{}
	err = records.EachPatient(w.store, func(p *pb.Patient) error {
		pid := raw32(p.Pseudonym)
		ok, err := records.ResearchAllowed(w.store, pid, 1<<40)
		if err != nil || !ok {
			return err
		}
		recs, err := records.RecordsOfPatient(w.store, pid)
		if err != nil {
			return err
		}
		c := records.Contributor(recs, p.Hospitals, index)
		out[c] = append(out[c], p.Pseudonym)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out
}

// replaySubjects applies the research.subject events of evs to index
// (hospital → pseudonym set), as a node following the chain's events
// would; it fails on an event that adds a present entry or removes an
// absent one.
func replaySubjects(t *testing.T, index map[string]map[string]bool, evs []contracts.Event) {
	t.Helper()
	for _, e := range evs {
		if e.Type != records.EventSubject {
			continue
		}
		a := map[string]string{}
		for _, at := range e.Attrs {
			a[at.Key] = at.Value
		}
		h, p, in := a["hospital"], a["pseudonym"], a["subject"] == "true"
		if index[h] == nil {
			index[h] = map[string]bool{}
		}
		if index[h][p] == in {
			t.Fatalf("event %+v: %s is already %v for %s", e, p, in, h)
		}
		if in {
			index[h][p] = true
		} else {
			delete(index[h], p)
		}
	}
}

// TestTheSubjectIndexFollowsEveryChange drives random enrolments, links,
// consents, Encounter and other registrations and erasures, in bulk
// imports and alone, and checks after every tx that the index lists
// exactly the brute-force subjects of each hospital, and that replaying
// the research.subject events gives the same lists.
func TestTheSubjectIndexFollowsEveryChange(t *testing.T) {
	for seed := range uint64(6) {
		t.Run(fmt.Sprintf("random history %d", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			w := newWorld(t)
			ops := []string{op1, op2}
			type person struct {
				name      string
				enrolled  []bool
				recs      []string
				custodian map[string]string
			}
			var people []*person
			consents := []pb.Consent{pb.Consent_CONSENT_OPT_IN, pb.Consent_CONSENT_OPT_OUT, pb.Consent_CONSENT_UNSPECIFIED}
			nrec := 0
			replayed, seen := map[string]map[string]bool{}, 0
			for step := range 160 {
				w.height = int64(10 + step)
				switch k := rng.IntN(10); {
				case k < 2 || len(people) == 0:
					p := &person{name: fmt.Sprintf("s%d-p%d", seed, len(people)), enrolled: make([]bool, 2), custodian: map[string]string{}}
					h := rng.IntN(2)
					m := &pb.EnrolPatient{Pseudonym: pidOf(p.name), Pubkey: edPub(p.name), SealPubkey: sealPub(p.name), ResearchConsent: consents[rng.IntN(3)]}
					if rng.IntN(2) == 0 {
						w.ok(ops[h], records.TypeEnrolPatient, m)
					} else {
						w.ok(ops[h], records.TypeImport, &pb.ImportBatch{Items: []*pb.ImportItem{{Step: &pb.ImportItem_Enrol{Enrol: m}}}})
					}
					p.enrolled[h] = true
					people = append(people, p)
				case k < 3:
					p := people[rng.IntN(len(people))]
					h := slices.Index(p.enrolled, false)
					if h < 0 {
						continue
					}
					w.link(ops[h], p.name)
					p.enrolled[h] = true
				case k < 5:
					p := people[rng.IntN(len(people))]
					c := consents[rng.IntN(2)]
					w.ok(addr(p.name), records.TypeConsent, &pb.SetConsent{Research: c})
				case k < 9:
					p := people[rng.IntN(len(people))]
					h := rng.IntN(2)
					if !p.enrolled[h] {
						continue
					}
					nrec++
					name := fmt.Sprintf("s%d-r%d", seed, nrec)
					types := []string{"Encounter"}
					if rng.IntN(3) == 0 {
						types = []string{"Observation"}
					}
					date := uint32(20200101 + rng.IntN(3)*100 + rng.IntN(2))
					m := registerMsg(name, pidOf(p.name), date, types...)
					if rng.IntN(2) == 0 {
						w.ok(ops[h], records.TypeRegister, m)
					} else {
						w.ok(ops[h], records.TypeImport, &pb.ImportBatch{Items: []*pb.ImportItem{{Step: &pb.ImportItem_Record{Record: m}}}})
					}
					p.recs = append(p.recs, ridOf(name))
					p.custodian[ridOf(name)] = ops[h]
				default:
					p := people[rng.IntN(len(people))]
					if len(p.recs) == 0 {
						continue
					}
					i := rng.IntN(len(p.recs))
					rid := p.recs[i]
					p.recs = slices.Delete(p.recs, i, i+1)
					w.ok(p.custodian[rid], records.TypeErase, &pb.EraseRecord{RecordId: rid})
				}
				want := bruteSubjects(t, w)
				for _, h := range []string{"h1", "h2"} {
					got, err := records.SubjectsOf(w.store, h)
					if err != nil {
						t.Fatal(err)
					}
					if !slices.Equal(got, want[h]) {
						t.Fatalf("step %d: the index lists %d subjects for %s, the definition %d:\n%v\n%v", step, len(got), h, len(want[h]), got, want[h])
					}
				}
				replaySubjects(t, replayed, w.all[seen:])
				seen = len(w.all)
				for _, h := range []string{"h1", "h2"} {
					got := slices.Sorted(maps.Keys(replayed[h]))
					if !slices.Equal(got, want[h]) {
						t.Fatalf("step %d: the events give %d subjects for %s, the definition %d:\n%v\n%v", step, len(got), h, len(want[h]), got, want[h])
					}
				}
			}
			total := 0
			for _, v := range bruteSubjects(t, w) {
				total += len(v)
			}
			if total == 0 {
				t.Fatal("the history left no subject: the test checks nothing")
			}
		})
	}
}
