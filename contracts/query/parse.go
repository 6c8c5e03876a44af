package query

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/medchain/medchain/contracts/pb"
)

// MaxTextBytes bounds a query's text.
const MaxTextBytes = 4096

// ErrSyntax wraps every refusal of Parse; ErrInvalid every refusal of
// Validate. Both say what to change.
var (
	ErrSyntax  = errors.New("query syntax")
	ErrInvalid = errors.New("invalid query")
)

// Parse reads a query's text:
//
//	SELECT stat {, stat} [WHERE filter] [AS OF 'YYYY-MM-DD']
//
//	stat   = count() | sum(f) | mean(f) | variance(f) | stddev(f)
//	       | histogram(f; e0, e1, ...) | survival(CODE; bin_days, horizon_days)
//	       | linreg(f ~ f {+ f})
//	filter = term {OR term};  term = factor {AND factor}
//	factor = NOT factor | ( filter ) | condition = 'CODE' | sex = 'female'
//	       | encounter = 'IMP' | seen BETWEEN 'YYYY-MM-DD' AND 'YYYY-MM-DD'
//	       | f op number          (op: < <= > >= = !=)
//	f      = age | hba1c | bmi | sbp
//
// Keywords and names are case-insensitive; numbers are decimals in the
// field's unit (hba1c 7.5 is 7.5 %). The result is canonical (nested
// ANDs and ORs flattened) and has passed Validate with DefaultLimits.
func Parse(text string) (*pb.Query, error) {
	if len(text) > MaxTextBytes {
		return nil, fmt.Errorf("%w: %d bytes, the limit is %d", ErrSyntax, len(text), MaxTextBytes)
	}
	toks, err := lex(text)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks}
	q, err := p.query()
	if err != nil {
		return nil, err
	}
	if err := Validate(q, DefaultLimits); err != nil {
		return nil, err
	}
	return q, nil
}

type tokKind int

const (
	tEOF tokKind = iota
	tIdent
	tNumber
	tString
	tPunct
)

type token struct {
	kind tokKind
	text string // identifiers lower-cased; strings without quotes
	pos  int    // byte offset, for messages
}

func (t token) String() string {
	switch t.kind {
	case tEOF:
		return "the end of the query"
	case tString:
		return fmt.Sprintf("'%s'", t.text)
	}
	return fmt.Sprintf("%q", t.text)
}

func lex(s string) ([]token, error) {
	var out []token
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
		case isLetter(c):
			j := i + 1
			for j < len(s) && (isLetter(s[j]) || isDigit(s[j]) || s[j] == '_' || s[j] == '.') {
				j++
			}
			out = append(out, token{tIdent, strings.ToLower(s[i:j]), i})
			i = j
		case isDigit(c) || (c == '-' && i+1 < len(s) && isDigit(s[i+1])) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			j := i + 1
			for j < len(s) && (isDigit(s[j]) || s[j] == '.') {
				j++
			}
			out = append(out, token{tNumber, s[i:j], i})
			i = j
		case c == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, fmt.Errorf("%w: at byte %d: a quoted string has no closing '", ErrSyntax, i)
			}
			out = append(out, token{tString, s[i+1 : i+1+j], i})
			i += j + 2
		case strings.ContainsRune("(),;~+", rune(c)):
			out = append(out, token{tPunct, string(c), i})
			i++
		case c == '<' || c == '>' || c == '!' || c == '=':
			if i+1 < len(s) && s[i+1] == '=' {
				out = append(out, token{tPunct, s[i : i+2], i})
				i += 2
			} else if c == '!' {
				return nil, fmt.Errorf("%w: at byte %d: '!' must be followed by '=' (not equal is !=)", ErrSyntax, i)
			} else {
				out = append(out, token{tPunct, string(c), i})
				i++
			}
		default:
			return nil, fmt.Errorf("%w: at byte %d: unexpected character %q", ErrSyntax, i, c)
		}
	}
	return append(out, token{kind: tEOF, pos: len(s)}), nil
}

func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }
func isDigit(c byte) bool  { return c >= '0' && c <= '9' }

type parser struct {
	toks  []token
	i     int
	depth int
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) fail(t token, format string, a ...any) error {
	return fmt.Errorf("%w: at byte %d, near %s: %s", ErrSyntax, t.pos, t, fmt.Sprintf(format, a...))
}

func (p *parser) isWord(w string) bool {
	t := p.peek()
	return t.kind == tIdent && t.text == w
}

func (p *parser) isPunct(s string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == s
}

func (p *parser) expectWord(w string) error {
	if !p.isWord(w) {
		return p.fail(p.peek(), "want %s", strings.ToUpper(w))
	}
	p.next()
	return nil
}

func (p *parser) expectPunct(s string) error {
	if !p.isPunct(s) {
		return p.fail(p.peek(), "want %q", s)
	}
	p.next()
	return nil
}

func (p *parser) query() (*pb.Query, error) {
	if err := p.expectWord("select"); err != nil {
		return nil, err
	}
	q := &pb.Query{}
	for {
		s, err := p.statistic()
		if err != nil {
			return nil, err
		}
		q.Statistics = append(q.Statistics, s)
		if !p.isPunct(",") {
			break
		}
		p.next()
	}
	if p.isWord("where") {
		p.next()
		f, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		q.Where = f
	}
	if p.isWord("as") {
		p.next()
		if err := p.expectWord("of"); err != nil {
			return nil, err
		}
		d, err := p.date()
		if err != nil {
			return nil, err
		}
		q.RefDate = d
	}
	if t := p.peek(); t.kind != tEOF {
		return nil, p.fail(t, "want ',' and another statistic, WHERE, AS OF or the end")
	}
	return q, nil
}

func (p *parser) field() (pb.Field, error) {
	t := p.next()
	if t.kind == tIdent {
		if f, ok := fieldByName(t.text); ok {
			return f, nil
		}
	}
	return 0, p.fail(t, "want a field: age, hba1c, bmi or sbp")
}

// number reads a decimal in f's unit and returns it scaled.
func (p *parser) number(f pb.Field) (int64, error) {
	t := p.next()
	if t.kind != tNumber {
		return 0, p.fail(t, "want a number (%s)", FieldName(f))
	}
	v, err := scaled(t.text, fields[f].Scale)
	if err != nil {
		return 0, p.fail(t, "%s: %v", FieldName(f), err)
	}
	return v, nil
}

// scaled parses a decimal and multiplies it by scale (a power of ten),
// exactly: it refuses more decimals than the scale holds.
func scaled(s string, scale int64) (int64, error) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	whole, frac, hasDot := strings.Cut(s, ".")
	if strings.Contains(frac, ".") || (hasDot && frac == "") {
		return 0, errors.New("not a decimal number")
	}
	digits := len(strconv.FormatInt(scale, 10)) - 1
	frac = strings.TrimRight(frac, "0")
	if len(frac) > digits {
		return 0, fmt.Errorf("at most %d decimals", digits)
	}
	frac += strings.Repeat("0", digits-len(frac))
	if whole == "" {
		whole = "0"
	}
	v, err := strconv.ParseInt(whole+frac, 10, 64)
	if err != nil || len(whole) > 12 {
		return 0, errors.New("out of range")
	}
	if neg {
		v = -v
	}
	return v, nil
}

func (p *parser) integer(what string) (uint32, error) {
	t := p.next()
	if t.kind != tNumber {
		return 0, p.fail(t, "want %s, a whole number", what)
	}
	v, err := strconv.ParseUint(t.text, 10, 32)
	if err != nil {
		return 0, p.fail(t, "%s must be a whole number below 2^32", what)
	}
	return uint32(v), nil
}

// code reads an ICD-10 code, quoted or bare, upper-cased.
func (p *parser) code() (string, error) {
	t := p.next()
	if t.kind != tString && t.kind != tIdent {
		return "", p.fail(t, "want an ICD-10 code such as 'E11'")
	}
	return strings.ToUpper(t.text), nil
}

func (p *parser) date() (uint32, error) {
	t := p.next()
	if t.kind != tString {
		return 0, p.fail(t, "want a quoted date 'YYYY-MM-DD'")
	}
	d, ok := parseDate(t.text)
	if !ok {
		return 0, p.fail(t, "want a date 'YYYY-MM-DD'")
	}
	return d, nil
}

func parseDate(s string) (uint32, bool) {
	if len(s) != 10 || s[4] != '-' || s[7] != '-' {
		return 0, false
	}
	v, err := strconv.ParseUint(s[:4]+s[5:7]+s[8:], 10, 32)
	if err != nil || !validDate(uint32(v)) {
		return 0, false
	}
	return uint32(v), true
}

func (p *parser) statistic() (*pb.Statistic, error) {
	t := p.next()
	if t.kind != tIdent {
		return nil, p.fail(t, "want a statistic: count(), sum(f), mean(f), variance(f), stddev(f), histogram(f; edges), survival(code; bin_days, horizon_days) or linreg(y ~ x + ...)")
	}
	name := t.text
	if err := p.expectPunct("("); err != nil {
		return nil, err
	}
	var s *pb.Statistic
	switch name {
	case "count":
		s = &pb.Statistic{Kind: &pb.Statistic_Count{Count: &pb.Count{}}}
	case "sum", "mean", "variance", "stddev":
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		fs := &pb.FieldStat{Field: f}
		switch name {
		case "sum":
			s = &pb.Statistic{Kind: &pb.Statistic_Sum{Sum: fs}}
		case "mean":
			s = &pb.Statistic{Kind: &pb.Statistic_Mean{Mean: fs}}
		case "variance":
			s = &pb.Statistic{Kind: &pb.Statistic_Variance{Variance: fs}}
		default:
			s = &pb.Statistic{Kind: &pb.Statistic_Stddev{Stddev: fs}}
		}
	case "histogram":
		f, err := p.field()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(";"); err != nil {
			return nil, err
		}
		h := &pb.Histogram{Field: f}
		for {
			if len(h.Edges) > MaxHistogramBins {
				return nil, p.fail(p.peek(), "at most %d bins", MaxHistogramBins)
			}
			v, err := p.number(f)
			if err != nil {
				return nil, err
			}
			h.Edges = append(h.Edges, v)
			if !p.isPunct(",") {
				break
			}
			p.next()
		}
		s = &pb.Statistic{Kind: &pb.Statistic_Histogram{Histogram: h}}
	case "survival":
		c, err := p.code()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(";"); err != nil {
			return nil, err
		}
		bin, err := p.integer("bin_days")
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct(","); err != nil {
			return nil, err
		}
		horizon, err := p.integer("horizon_days")
		if err != nil {
			return nil, err
		}
		s = &pb.Statistic{Kind: &pb.Statistic_Survival{Survival: &pb.Survival{Condition: c, BinDays: bin, HorizonDays: horizon}}}
	case "linreg":
		y, err := p.field()
		if err != nil {
			return nil, err
		}
		if err := p.expectPunct("~"); err != nil {
			return nil, err
		}
		l := &pb.Linreg{Y: y}
		for {
			if len(l.X) > MaxLinregX {
				return nil, p.fail(p.peek(), "at most %d predictors", MaxLinregX)
			}
			x, err := p.field()
			if err != nil {
				return nil, err
			}
			l.X = append(l.X, x)
			if !p.isPunct("+") {
				break
			}
			p.next()
		}
		s = &pb.Statistic{Kind: &pb.Statistic_Linreg{Linreg: l}}
	default:
		return nil, p.fail(t, "unknown statistic; use count, sum, mean, variance, stddev, histogram, survival or linreg")
	}
	if err := p.expectPunct(")"); err != nil {
		return nil, err
	}
	return s, nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxFilterDepth {
		return p.fail(p.peek(), "filters nest at most %d deep", MaxFilterDepth)
	}
	return nil
}

func (p *parser) orExpr() (*pb.Filter, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	var items []*pb.Filter
	for {
		f, err := p.andExpr()
		if err != nil {
			return nil, err
		}
		items = appendFlat(items, f, true)
		if !p.isWord("or") {
			break
		}
		p.next()
	}
	if len(items) == 1 {
		return items[0], nil
	}
	return &pb.Filter{Node: &pb.Filter_Or{Or: &pb.FilterList{Items: items}}}, nil
}

func (p *parser) andExpr() (*pb.Filter, error) {
	var items []*pb.Filter
	for {
		f, err := p.factor()
		if err != nil {
			return nil, err
		}
		items = appendFlat(items, f, false)
		if !p.isWord("and") {
			break
		}
		p.next()
	}
	if len(items) == 1 {
		return items[0], nil
	}
	return &pb.Filter{Node: &pb.Filter_And{And: &pb.FilterList{Items: items}}}, nil
}

// appendFlat appends f to items, or its items when f is a list of the same
// kind (or = true: OR), so the canonical form has no directly nested
// AND-in-AND or OR-in-OR.
func appendFlat(items []*pb.Filter, f *pb.Filter, or bool) []*pb.Filter {
	if or {
		if l, ok := f.Node.(*pb.Filter_Or); ok {
			return append(items, l.Or.Items...)
		}
	} else if l, ok := f.Node.(*pb.Filter_And); ok {
		return append(items, l.And.Items...)
	}
	return append(items, f)
}

func (p *parser) factor() (*pb.Filter, error) {
	t := p.peek()
	switch {
	case p.isWord("not"):
		p.next()
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer func() { p.depth-- }()
		f, err := p.factor()
		if err != nil {
			return nil, err
		}
		return &pb.Filter{Node: &pb.Filter_Not{Not: f}}, nil
	case p.isPunct("("):
		p.next()
		f, err := p.orExpr()
		if err != nil {
			return nil, err
		}
		return f, p.expectPunct(")")
	case t.kind != tIdent:
		return nil, p.fail(t, "want a condition: condition = 'E11', sex = 'female', encounter = 'IMP', seen BETWEEN ..., or a field comparison such as age >= 50")
	}
	p.next()
	switch t.text {
	case "condition", "sex", "encounter":
		if err := p.expectPunct("="); err != nil {
			return nil, err
		}
		v := p.next()
		if v.kind != tString && v.kind != tIdent {
			return nil, p.fail(v, "want a quoted value")
		}
		switch t.text {
		case "condition":
			return &pb.Filter{Node: &pb.Filter_Condition{Condition: strings.ToUpper(v.text)}}, nil
		case "sex":
			s, ok := sexByName(strings.ToLower(v.text))
			if !ok {
				return nil, p.fail(v, "sex is female, male, other or unknown")
			}
			return &pb.Filter{Node: &pb.Filter_Sex{Sex: s}}, nil
		default:
			return &pb.Filter{Node: &pb.Filter_EncounterClass{EncounterClass: strings.ToUpper(v.text)}}, nil
		}
	case "seen":
		if err := p.expectWord("between"); err != nil {
			return nil, err
		}
		from, err := p.date()
		if err != nil {
			return nil, err
		}
		if err := p.expectWord("and"); err != nil {
			return nil, err
		}
		to, err := p.date()
		if err != nil {
			return nil, err
		}
		return &pb.Filter{Node: &pb.Filter_Seen{Seen: &pb.DateRange{From: from, To: to}}}, nil
	}
	f, ok := fieldByName(t.text)
	if !ok {
		return nil, p.fail(t, "unknown name; filters use condition, sex, encounter, seen, age, hba1c, bmi or sbp")
	}
	opTok := p.next()
	op, ok := opByName(opTok.text)
	if opTok.kind != tPunct || !ok {
		return nil, p.fail(opTok, "want a comparison: < <= > >= = !=")
	}
	v, err := p.number(f)
	if err != nil {
		return nil, err
	}
	return &pb.Filter{Node: &pb.Filter_Compare{Compare: &pb.Comparison{Field: f, Op: op, Value: v}}}, nil
}
