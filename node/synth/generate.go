package synth

import (
	"fmt"
	"slices"
	"time"
)

// Options of Generate. Hospitals × Patients may not exceed MaxPersons.
type Options struct {
	Hospitals int       // 1..MaxHospitals
	Patients  int       // home patients per hospital, 1..MaxPatients; about 3% of them also visit one other hospital
	Seed      int64     // the only source of randomness
	RefDate   time.Time // "today" of the data set (ages, censoring); zero means DefaultRefDate; only its UTC date counts
}

// Limits and defaults of Options.
const (
	MaxHospitals = 100
	MaxPatients  = 1_000_000
	MaxPersons   = 2_000_000
)

// DefaultRefDate is the reference date when Options.RefDate is zero.
var DefaultRefDate = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func (o Options) check() (Options, error) {
	if o.Hospitals < 1 || o.Hospitals > MaxHospitals {
		return o, fmt.Errorf("synth: hospitals %d: want 1 to %d", o.Hospitals, MaxHospitals)
	}
	if o.Patients < 1 || o.Patients > MaxPatients {
		return o, fmt.Errorf("synth: patients %d: want 1 to %d per hospital", o.Patients, MaxPatients)
	}
	if o.Hospitals*o.Patients > MaxPersons {
		return o, fmt.Errorf("synth: %d hospitals × %d patients is more than %d persons", o.Hospitals, o.Patients, MaxPersons)
	}
	if o.RefDate.IsZero() {
		o.RefDate = DefaultRefDate
	}
	y, m, d := o.RefDate.UTC().Date()
	if y < 1900 || y > 2999 {
		return o, fmt.Errorf("synth: reference date %s: want a year from 1900 to 2999", o.RefDate.Format(time.DateOnly))
	}
	o.RefDate = time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	return o, nil
}

// day is a calendar date as days since 1970-01-01.
type day int

func dayOf(t time.Time) day { return day(t.Unix() / 86400) }

func (d day) time() time.Time { return time.Unix(int64(d)*86400, 0).UTC() }

func (d day) String() string { return d.time().Format(time.DateOnly) }

// ageAt is the age in completed years on ref of someone born on d.
func (d day) ageAt(ref day) int {
	by, bm, bd := d.time().Date()
	ry, rm, rd := ref.time().Date()
	age := ry - by
	if rm < bm || (rm == bm && rd < bd) {
		age--
	}
	return age
}

const year = 365

// A condition the generator knows: ICD-10 category, codes, prevalence.
type conditionKind struct {
	category string
	codes    []string // ICD-10 codes (category or subcodes), drawn uniformly
	displays []string
	minAge   int // youngest age at onset, years
	lookback int // onset at most this many years before the reference date
}

// Categories, in the order of truth.json.
var conditionKinds = []conditionKind{
	{"C34", []string{"C34.1", "C34.9", "C34.9"}, []string{"Malignant neoplasm: Upper lobe, bronchus or lung", "Malignant neoplasm: Bronchus or lung, unspecified", "Malignant neoplasm: Bronchus or lung, unspecified"}, 30, 6},
	{"E11", []string{"E11.9", "E11.9", "E11.9", "E11.2"}, []string{"Type 2 diabetes mellitus without complications", "Type 2 diabetes mellitus without complications", "Type 2 diabetes mellitus without complications", "Type 2 diabetes mellitus with renal complications"}, 20, 15},
	{"E84", []string{"E84.0", "E84.0", "E84.9"}, []string{"Cystic fibrosis with pulmonary manifestations", "Cystic fibrosis with pulmonary manifestations", "Cystic fibrosis, unspecified"}, 0, 40},
	{"I10", []string{"I10"}, []string{"Essential (primary) hypertension"}, 18, 20},
	{"J45", []string{"J45.0", "J45.9", "J45.9"}, []string{"Predominantly allergic asthma", "Asthma, unspecified", "Asthma, unspecified"}, 2, 20},
}

// prevalence per 100,000 by age band (<18, 18-39, 40-64, 65+), per category.
var prevalence = map[string][4]int{
	"C34": {0, 0, 1_300, 2_600},
	"E11": {300, 3_000, 12_000, 22_000},
	"E84": {250, 200, 150, 100},
	"I10": {500, 8_000, 30_000, 55_000},
	"J45": {10_000, 7_000, 7_000, 7_000},
}

func band(age int) int {
	switch {
	case age < 18:
		return 0
	case age < 40:
		return 1
	case age < 65:
		return 2
	}
	return 3
}

type condition struct {
	category, code, display string
	onset                   day
}

// person is one human being, the same at every hospital that sees them.
type person struct {
	index          int
	home, second   int // hospital indexes; second is -1 when seen at one only
	sex            string
	birth          day
	dead           bool
	death          day
	nationalID     string
	insurance      string
	given, family  string
	mobile, home2  string // home2: a landline, or ""
	consent        int    // 1 yes, 0 no, -1 not recorded
	conditions     []condition
	bmi10, a1c10   int // personal baselines: BMI ×10, HbA1c % ×10
	sbp            int // baseline systolic BP, mmHg
	categoryLookup map[string]bool
}

func (p *person) has(category string) bool { return p.categoryLookup[category] }

// Local records of one person at one hospital.
type encounter struct {
	id         string
	class      int // index in encounterClasses
	start, end day
	startMin   int // minutes after midnight, local time (+08:00)
	endMin     int
}

type recordedCondition struct {
	id string
	condition
}

type observation struct {
	id     string
	code   string // LOINC
	value  int64  // value × scale
	scale  int64  // 10 for HbA1c and BMI, 1 for systolic BP
	at     day
	atMin  int
	encIdx int
}

// patient is a person as one hospital knows them.
type patient struct {
	person       *person
	hospital     int
	id           string
	mrn          string
	encounters   []encounter
	conditions   []recordedCondition
	observations []observation
}

// Hospital is one hospital's generated data.
type Hospital struct {
	Index    int
	Name     string // "hospital<Index>"
	patients []*patient
}

// Dataset is a generated alliance: Write puts it on disk.
type Dataset struct {
	Options   Options
	Hospitals []*Hospital
	persons   []*person
	truth     *Truth
}

// Truth returns the statistics of the data set (what truth.json holds).
func (d *Dataset) Truth() *Truth { return d.truth }

// Generate builds the data set for opts. It is a pure function of opts.
func Generate(opts Options) (*Dataset, error) {
	opts, err := opts.check()
	if err != nil {
		return nil, err
	}
	ref := dayOf(opts.RefDate)
	g := &generator{ref: ref, used: map[string]bool{}}
	d := &Dataset{Options: opts}
	r := newRNG(opts.Seed, 0x6d6564636861696e) // "medchain"
	for h := range opts.Hospitals {
		for range opts.Patients {
			p := g.person(r, len(d.persons), h)
			d.persons = append(d.persons, p)
		}
	}
	// About 3% of persons are also seen at one other hospital.
	for _, p := range d.persons {
		if opts.Hospitals > 1 && r.chance(3, 100) {
			p.second = (p.home + 1 + r.intn(opts.Hospitals-1)) % opts.Hospitals
		}
	}
	for h := range opts.Hospitals {
		hr := newRNG(opts.Seed, 0x1000+uint64(h))
		var members []*person
		for _, p := range d.persons {
			if p.home == h || p.second == h {
				members = append(members, p)
			}
		}
		hr.shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		hosp := &Hospital{Index: h, Name: fmt.Sprintf("hospital%d", h)}
		c := &counters{}
		for i, p := range members {
			hosp.patients = append(hosp.patients, g.records(hr, p, h, i+1, c))
		}
		d.Hospitals = append(d.Hospitals, hosp)
	}
	d.truth = computeTruth(d)
	return d, nil
}

type generator struct {
	ref  day
	used map[string]bool // national ids, insurance numbers and phones handed out
}

// unique draws with fn until the value was never handed out before.
func (g *generator) unique(fn func() string) string {
	for {
		if v := fn(); !g.used[v] {
			g.used[v] = true
			return v
		}
	}
}

var (
	familyNames   = []string{"Wang", "Li", "Zhang", "Liu", "Chen", "Yang", "Huang", "Zhao", "Wu", "Zhou", "Xu", "Sun", "Ma", "Zhu", "Hu", "Guo", "He", "Lin", "Gao", "Luo"}
	femaleGiven   = []string{"Fang", "Min", "Jing", "Yan", "Xiuying", "Lina", "Hui", "Ying", "Hong", "Juan", "Mei", "Xia"}
	maleGiven     = []string{"Wei", "Qiang", "Lei", "Jun", "Yong", "Jie", "Tao", "Ming", "Chao", "Hao", "Bin", "Gang"}
	regions       = []string{"110105", "310104", "440305", "510107", "330106", "420106"}
	areaCodes     = []string{"010", "021", "0755", "028", "0571", "027"}
	idCheckChars  = "10X98765432"
	idCheckWeight = []int{7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2}
)

// residentID builds an 18-character resident id: region, birth date, a
// sequence number (odd for men) and the ISO 7064 MOD 11-2 check character.
func residentID(region string, birth day, seq int) string {
	s := region + birth.time().Format("20060102") + fmt.Sprintf("%03d", seq)
	sum := 0
	for i := range 17 {
		sum += int(s[i]-'0') * idCheckWeight[i]
	}
	return s + string(idCheckChars[sum%11])
}

func (g *generator) person(r *rng, index, home int) *person {
	p := &person{index: index, home: home, second: -1, categoryLookup: map[string]bool{}}
	switch r.weighted([]int{495, 495, 5, 5}) {
	case 0:
		p.sex = "female"
	case 1:
		p.sex = "male"
	case 2:
		p.sex = "other"
	default:
		p.sex = "unknown"
	}
	var ageDays int
	if r.chance(16, 100) {
		ageDays = 1 + r.intn(18*year)
	} else { // adults 18-95, triangular with its peak at about 56
		ageDays = 18*year + (r.intn(77*year+1)+r.intn(77*year+1))/2
	}
	p.birth = g.ref - day(ageDays)
	age := p.birth.ageAt(g.ref)

	region := r.pick(regions)
	p.nationalID = g.unique(func() string {
		seq := r.intn(500) * 2
		if p.sex == "male" {
			seq++
		}
		return residentID(region, p.birth, seq)
	})
	p.insurance = g.unique(func() string { return fmt.Sprintf("INS%010d", r.intn(10_000_000_000)) })
	p.mobile = g.unique(func() string { return fmt.Sprintf("1%d%09d", r.between(3, 9), r.intn(1_000_000_000)) })
	if r.chance(30, 100) {
		p.home2 = fmt.Sprintf("%s-%d%07d", areaCodes[slices.Index(regions, region)], r.between(5, 8), r.intn(10_000_000))
	}
	p.family = r.pick(familyNames)
	if p.sex == "male" || (p.sex != "female" && r.chance(1, 2)) {
		p.given = r.pick(maleGiven)
	} else {
		p.given = r.pick(femaleGiven)
	}
	switch w := r.weighted([]int{80, 17, 3}); w {
	case 0:
		p.consent = 1
	case 1:
		p.consent = 0
	default:
		p.consent = -1
	}

	// Conditions; lung cancer first, since it decides survival.
	for _, k := range conditionKinds {
		if r.intn(100_000) < prevalence[k.category][band(age)] {
			i := r.intn(len(k.codes))
			p.conditions = append(p.conditions, condition{category: k.category, code: k.codes[i], display: k.displays[i]})
			p.categoryLookup[k.category] = true
		}
	}
	end := g.ref // last day the person is alive and observable
	onset := func(k conditionKind) day {
		hi := min(end-30, g.ref-30)
		lo := max(p.birth+day(k.minAge*year), g.ref-day(k.lookback*year))
		hi = max(hi, p.birth)
		lo = min(lo, hi)
		return day(r.between(int(lo), int(hi)))
	}
	for i := range p.conditions {
		if p.conditions[i].category != "C34" {
			continue
		}
		k := conditionKinds[0]
		p.conditions[i].onset = onset(k)
		// Survival after diagnosis: 15% long-term survivors; otherwise a
		// monthly death hazard of 4.83% (median about 14 months).
		if !r.chance(15, 100) {
			t := day(-1)
			for m := 0; m < 240; m++ {
				if r.chance(4_830, 100_000) {
					t = day(m*30 + r.intn(30))
					break
				}
			}
			if t >= 0 && p.conditions[i].onset+t < g.ref {
				p.dead, p.death = true, p.conditions[i].onset+t
				end = p.death
			}
		}
	}
	latestOnset := p.birth
	for i := range p.conditions {
		if p.conditions[i].category == "C34" {
			latestOnset = max(latestOnset, p.conditions[i].onset)
			continue
		}
		for _, k := range conditionKinds {
			if k.category == p.conditions[i].category {
				p.conditions[i].onset = onset(k)
			}
		}
		if p.conditions[i].onset > end {
			p.conditions[i].onset = end
		}
		latestOnset = max(latestOnset, p.conditions[i].onset)
	}
	if !p.dead {
		// Deaths from other causes in the last five years.
		perMille := [4]int{5, 5, 20, 80}[band(age)]
		if age >= 80 {
			perMille += 60
		}
		if r.intn(1000) < perMille {
			lo := max(g.ref-5*year, p.birth+1, latestOnset+1)
			if lo < g.ref {
				p.dead, p.death = true, day(r.between(int(lo), int(g.ref-1)))
			}
		}
	}

	// Baselines of the measurements.
	if age < 18 {
		p.bmi10 = clamp(r.normal(180, 30), 120, 350)
		p.sbp = clamp(r.normal(102, 8), 80, 140)
	} else {
		p.bmi10 = clamp(r.normal(270, 50), 150, 600)
		p.sbp = 110 + max(0, age-30)*45/100 + (p.bmi10-270)*7/100 + r.normal(0, 8)
		if p.has("I10") {
			p.sbp += 18
		}
		p.sbp = clamp(p.sbp, 85, 220)
	}
	if p.has("E11") {
		p.a1c10 = clamp(r.normal(76, 11), 55, 140)
	} else {
		p.a1c10 = clamp(r.normal(54, 3), 42, 64)
	}
	return p
}

// Encounter classes (v3 ActCode) and their weights.
var encounterClasses = []struct {
	code, display string
	weight        int
}{
	{"AMB", "ambulatory", 80},
	{"IMP", "inpatient encounter", 12},
	{"EMER", "emergency", 8},
}

type counters struct{ enc, cond, obs int }

// records generates the local records of p at hospital h.
func (g *generator) records(r *rng, p *person, h, seq int, c *counters) *patient {
	pt := &patient{person: p, hospital: h, id: fmt.Sprintf("h%d-p%07d", h, seq), mrn: fmt.Sprintf("MRN%07d", seq)}
	last := g.ref - 1
	if p.dead {
		last = p.death
	}
	first := max(p.birth, g.ref-8*year)
	if last < first {
		last = first
	}
	n := 1 + r.weighted([]int{25, 22, 18, 14, 11, 10})
	if h == p.second {
		n = 1 + r.weighted([]int{60, 30, 10})
	}
	n = min(n, int(last-first)+1)
	days := map[day]bool{}
	for len(days) < n {
		days[day(r.between(int(first), int(last)))] = true
	}
	var sorted []day
	for d := range days {
		sorted = append(sorted, d)
	}
	slices.Sort(sorted)
	weights := []int{encounterClasses[0].weight, encounterClasses[1].weight, encounterClasses[2].weight}
	for _, d := range sorted {
		c.enc++
		e := encounter{id: fmt.Sprintf("h%d-e%08d", h, c.enc), class: r.weighted(weights), start: d, startMin: 8*60 + r.intn(600)}
		switch encounterClasses[e.class].code {
		case "AMB":
			e.end, e.endMin = d, e.startMin+r.between(10, 120)
		case "EMER":
			m := e.startMin + r.between(60, 480)
			e.end, e.endMin = d+day(m/(24*60)), m%(24*60)
		default:
			e.end, e.endMin = d+day(r.between(1, 10)), 9*60+r.intn(300)
		}
		if e.end > max(last, d) {
			e.end, e.endMin = max(last, d), max(e.startMin, 17*60)
		}
		if e.end == e.start && e.endMin < e.startMin {
			e.endMin = e.startMin
		}
		pt.encounters = append(pt.encounters, e)
	}
	for _, cd := range p.conditions {
		if h == p.second && !r.chance(1, 2) {
			continue
		}
		c.cond++
		pt.conditions = append(pt.conditions, recordedCondition{id: fmt.Sprintf("h%d-c%08d", h, c.cond), condition: cd})
	}
	for i, e := range pt.encounters {
		age := p.birth.ageAt(e.start)
		add := func(code string, value, scale int64) {
			c.obs++
			pt.observations = append(pt.observations, observation{id: fmt.Sprintf("h%d-o%09d", h, c.obs), code: code, value: value, scale: scale, at: e.start, atMin: e.startMin, encIdx: i})
		}
		if age >= 2 && r.chance(60, 100) {
			add(loincBMI, int64(clamp(p.bmi10+r.normal(0, 6), 120, 700)), 10)
		}
		if age >= 3 && r.chance(75, 100) {
			add(loincSBP, int64(clamp(p.sbp+r.normal(0, 9), 70, 240)), 1)
		}
		if p.has("E11") && r.chance(85, 100) {
			add(loincA1c, int64(clamp(p.a1c10+r.normal(0, 4), 38, 160)), 10)
		} else if !p.has("E11") && age >= 10 && r.chance(12, 100) {
			add(loincA1c, int64(clamp(p.a1c10+r.normal(0, 1), 38, 160)), 10)
		}
	}
	return pt
}
