package report

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/medchain/medchain/contracts"
	"github.com/medchain/medchain/contracts/accounts"
	"github.com/medchain/medchain/contracts/pb"
	"github.com/medchain/medchain/contracts/research"
	"github.com/medchain/medchain/he"

	"google.golang.org/protobuf/proto"
)

var (
	paramsOnce sync.Once
	testHE     *he.Params
	testKey    *ResearcherKey
	paramsErr  error
)

// defaults returns the pinned HE parameters and one key pair made for them.
func defaults(t testing.TB) (*he.Params, *ResearcherKey) {
	t.Helper()
	paramsOnce.Do(func() {
		if testHE, paramsErr = he.NewParams(he.DefaultLiteral()); paramsErr == nil {
			testKey, paramsErr = NewResearcherKey(testHE)
		}
	})
	if paramsErr != nil {
		t.Fatal(paramsErr)
	}
	return testHE, testKey
}

func TestResearcherKeyRoundTrip(t *testing.T) {
	p, k := defaults(t)
	raw, err := k.Encode()
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeResearcherKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.Public, k.Public) || !bytes.Equal(back.Secret, k.Secret) || back.PublicHash() != k.PublicHash() {
		t.Fatal("the key changed in a round trip")
	}
	if err := back.Check(p); err != nil {
		t.Fatal(err)
	}
	back.Clear()
	if !bytes.Equal(back.Secret, make([]byte, len(back.Secret))) {
		t.Fatal("Clear left the secret")
	}
}

// TestAReleasedResultDecryptsIntoTheReport runs the HE path a result
// takes: two members encrypt their figures under a collective key, the
// sum is switched to the researcher's key (sealed and decoded again), and
// the researcher decrypts it and builds the report.
func TestAReleasedResultDecryptsIntoTheReport(t *testing.T) {
	p, k := defaults(t)
	raw, err := k.Encode()
	if err != nil {
		t.Fatal(err)
	}
	mine, err := DecodeResearcherKey(raw)
	if err != nil {
		t.Fatal(err)
	}
	members, seed := []uint64{1, 2}, he.CRPSeed("report-test", 1)
	var pkShares [][]byte
	dealt := map[uint64]map[uint64][]byte{}
	for _, m := range members {
		sk, err := p.GenSecretShare()
		if err != nil {
			t.Fatal(err)
		}
		share, err := p.GenPublicKeyShare(sk, seed)
		if err != nil {
			t.Fatal(err)
		}
		pkShares = append(pkShares, share)
		if dealt[m], err = p.GenThresholdShares(sk, m, 2, members); err != nil {
			t.Fatal(err)
		}
	}
	pk, err := p.AggregatePublicKey(seed, pkShares)
	if err != nil {
		t.Fatal(err)
	}
	rq := released(t, "SELECT count(), mean(hba1c), linreg(sbp ~ age)", true)
	lim, err := Limits(&pb.Params{He: &pb.HEParams{LogN: 13}, Research: &pb.ResearchParams{MaxPatients: 1 << 24}}, p)
	if err != nil {
		t.Fatal(err)
	}
	// Hospital 1 has ages 20 and 40, hospital 2 age 60 (sbp = 100 +
	// age/2); HbA1c 6.5 and 7.5 at hospital 1 only.
	figures := [][]int64{
		{2, 2, 1400, 2, 60, 2000, 230, 7000, 110*110 + 120*120},
		{1, 0, 0, 1, 60, 3600, 130, 7800, 130 * 130},
	}
	var cts [][]byte
	for _, f := range figures {
		ct, err := p.EncodeEncrypt(pk, vector(t, rq, lim, f))
		if err != nil {
			t.Fatal(err)
		}
		cts = append(cts, ct)
	}
	sum, err := p.Add(cts...)
	if err != nil {
		t.Fatal(err)
	}
	var ks [][]byte
	for _, m := range members {
		received := map[uint64][]byte{}
		for _, d := range members {
			received[d] = dealt[d][m]
		}
		ts, err := p.CombineThresholdShares(m, 2, received)
		if err != nil {
			t.Fatal(err)
		}
		share, err := p.GenKeySwitchShare(ts, members, sum, mine.Public)
		if err != nil {
			t.Fatal(err)
		}
		ks = append(ks, share)
	}
	result, err := p.KeySwitch(sum, ks)
	if err != nil {
		t.Fatal(err)
	}
	vals, err := p.Decrypt(mine.Secret, result)
	if err != nil {
		t.Fatal(err)
	}
	r, err := Build(rq, lim, vals, nil)
	if err != nil {
		t.Fatal(err)
	}
	c, m, l := r.Statistics[0], r.Statistics[1], r.Statistics[2].Linreg
	if *c.N != 3 || !eq(m.Mean, 7) || l.Singular || !eq(&l.Coefficients[0].Value, 100) || !eq(&l.Coefficients[1].Value, 0.5) {
		t.Fatalf("count %d, mean %v, fit %+v", *c.N, *m.Mean, l)
	}
	if _, err := p.Decrypt(k.Secret[:len(k.Secret)/2], result); err == nil {
		t.Fatal("a damaged secret key decrypted the result")
	}
}

func TestDecodeResearcherKeyRefusals(t *testing.T) {
	_, k := defaults(t)
	good, err := k.Encode()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(old, new string) []byte { return []byte(strings.Replace(string(good), old, new, 1)) }
	tests := []struct {
		name string
		data []byte
		want string
	}{
		{"another kind is refused", edit(KeyKind, "medchain-researcher-he-key/v1"), "kind"},
		{"an unknown field is refused", edit(`{"kind"`, `{"extra":1,"kind"`), "unknown field"},
		{"trailing data is refused", append(append([]byte{}, good...), []byte(` {}`)...), "after the key"},
		{"a missing secret is refused", edit(`"secret_key":"`, `"secret_key":null,"x":"`), "unknown field"},
		{"an empty public key is refused", []byte(`{"kind":"` + KeyKind + `","params":{"log_n":13,"q":[3],"t":5},"public_key":"","secret_key":"AA=="}`), "missing"},
		{"incomplete parameters are refused", []byte(`{"kind":"` + KeyKind + `","params":{"log_n":3},"public_key":"AA==","secret_key":"AA=="}`), "parameters"},
		{"not JSON is refused", []byte("\x00\x01"), "invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := DecodeResearcherKey(tt.data)
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want ErrBadKey with %q", err, tt.want)
			}
			if bytes.Contains([]byte(err.Error()), k.Secret[:16]) {
				t.Fatal("the error holds key material")
			}
		})
	}
}

func TestCheckRefusesAKeyOfOtherParameters(t *testing.T) {
	p, k := defaults(t)
	other := *k
	other.Params.T = 65537
	if err := other.Check(p); err == nil || !strings.Contains(err.Error(), "research keygen") {
		t.Fatalf("err = %v", err)
	}
	damaged := *k
	damaged.Public = damaged.Public[:len(damaged.Public)-1]
	if err := damaged.Check(p); err == nil || !strings.Contains(err.Error(), "damaged") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzDecodeResearcherKey(f *testing.F) {
	_, k := defaults(f)
	good, err := k.Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good[:4096])
	f.Add([]byte(`{"kind":"` + KeyKind + `","params":{"log_n":13,"q":[3],"t":5},"public_key":"AA==","secret_key":"AA=="}`))
	f.Add([]byte(`{}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := DecodeResearcherKey(data)
		if err != nil {
			if k != nil || !errors.Is(err, ErrBadKey) {
				t.Fatalf("%v %v", k, err)
			}
			return
		}
		raw, err := k.Encode()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecodeResearcherKey(raw); err != nil {
			t.Fatalf("a decoded key does not decode again: %v", err)
		}
	})
}

// paramsReader is a state holding only the alliance's parameters.
type paramsReader struct{ raw []byte }

func (r paramsReader) Get(key []byte) ([]byte, error) {
	if bytes.Equal(key, accounts.ParamsKey()) {
		return r.raw, nil
	}
	return nil, nil
}

func (paramsReader) Iterator(_, _ []byte, _ bool) (contracts.Iterator, error) {
	return nil, errors.New("no iteration")
}

func TestLimitsAreTheContractsLimits(t *testing.T) {
	p, _ := defaults(t)
	lit := p.Literal()
	full := &pb.Params{He: &pb.HEParams{LogN: uint32(lit.LogN), Q: lit.Q, T: lit.T, Threshold: 3},
		Research: &pb.ResearchParams{MinCohort: 11, MaxPatients: 1 << 20, BudgetMicro: 10_000_000}}
	tests := []struct {
		name    string
		params  *pb.Params
		wantErr bool
	}{
		{"an alliance with research has the contract's limits", full, false},
		{"an alliance without research is refused", &pb.Params{He: full.He}, true},
		{"an alliance without HE is refused", &pb.Params{Research: full.Research}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Limits(tt.params, p)
			if tt.wantErr {
				if !errors.Is(err, ErrNoResearch) {
					t.Fatalf("err = %v", err)
				}
				if _, err := HEParams(tt.params); tt.params.He == nil && !errors.Is(err, ErrNoResearch) {
					t.Fatalf("HEParams err = %v", err)
				}
				return
			}
			raw, err := proto.Marshal(tt.params)
			if err != nil {
				t.Fatal(err)
			}
			want, err := research.Limits(paramsReader{raw})
			if err != nil || got != want {
				t.Fatalf("Limits = %+v, %v; the contract's %+v", got, err, want)
			}
			hp, err := HEParams(tt.params)
			if err != nil || hp.Slots() != p.Slots() {
				t.Fatalf("HEParams: %v", err)
			}
		})
	}
}
