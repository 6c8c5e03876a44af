package audit

import (
	"encoding/csv"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"

	"github.com/medchain/medchain/contracts/query"
)

// table is one section of a report as rows of cells, shared by the text
// and CSV forms. free marks the columns that hold free text from the chain
// (reasons, notes, logs), which both forms neutralise.
type table struct {
	name  string
	title string
	cols  []string
	free  map[int]bool
	rows  [][]string
}

// tables lays out the sections r holds, in a fixed order.
func (r *Report) tables() []table {
	has := map[string]bool{}
	for _, s := range r.Sections {
		has[s] = true
	}
	var out []table
	u := func(v uint64) string { return strconv.FormatUint(v, 10) }
	i := func(v int64) string { return strconv.FormatInt(v, 10) }
	if has["accesses"] {
		t := table{name: "access", title: "ACCESSES (allowed reads, from the access entries)",
			cols: []string{"entry", "height", "doctor", "doctor_hospital", "record", "patient", "custodian", "grant", "purpose"}}
		for _, a := range r.Accesses {
			t.rows = append(t.rows, []string{u(a.Entry), i(a.Height), a.Doctor, a.DoctorHospital, a.Record, a.Patient, a.Custodian, a.Grant, a.Purpose})
		}
		out = append(out, t)
		t = table{name: "refusal", title: "REFUSALS (txs refused in blocks)",
			cols: []string{"height", "tx", "signer", "type", "code", "code_name", "reason", "record", "patient", "grant", "log"}, free: map[int]bool{10: true}}
		for _, f := range r.Refusals {
			t.rows = append(t.rows, []string{i(f.Height), strconv.Itoa(f.Tx), f.Signer, f.Type, u(uint64(f.Code)), f.CodeName, f.Reason, f.Record, f.Patient, f.Grant, f.Log})
		}
		out = append(out, t)
	}
	if has["break_glass"] {
		t := table{name: "break_glass", title: "BREAK-GLASS (emergency reads and their reviews)",
			cols: []string{"entry", "height", "doctor", "doctor_hospital", "record", "patient", "custodian", "reason", "review", "finding", "reviewer", "review_height", "note"},
			free: map[int]bool{7: true, 12: true}}
		for _, b := range r.BreakGlass {
			rh := ""
			if b.ReviewHeight != 0 {
				rh = i(b.ReviewHeight)
			}
			t.rows = append(t.rows, []string{u(b.Entry), i(b.Height), b.Doctor, b.DoctorHospital, b.Record, b.Patient, b.Custodian, b.Reason, b.Review, b.Finding, b.Reviewer, rh, b.Note})
		}
		out = append(out, t)
	}
	if has["queries"] {
		t := table{name: "query", title: "QUERIES (research queries)",
			cols: []string{"id", "height", "researcher", "status", "status_height", "gate", "noised_count", "rho", "contributors", "statistics", "text", "reason"},
			free: map[int]bool{11: true}}
		for _, q := range r.Queries {
			n := ""
			if q.NoisedCount != nil {
				n = i(*q.NoisedCount)
			}
			cs := make([]string, len(q.Contributors))
			for k, c := range q.Contributors {
				cs[k] = u(c)
			}
			t.rows = append(t.rows, []string{u(q.ID), i(q.Height), q.Researcher, q.Status, i(q.StatusHeight), q.Gate, n, query.FormatMicro(q.RhoMicro),
				strings.Join(cs, " "), strings.Join(q.Statistics, "; "), q.Text, q.Reason})
		}
		out = append(out, t)
		t = table{name: "budget", title: "BUDGETS (privacy-budget ledgers)", cols: []string{"researcher", "granted_rho", "spent_rho"}}
		for _, b := range r.Budgets {
			t.rows = append(t.rows, []string{b.Researcher, query.FormatMicro(b.GrantedMicro), query.FormatMicro(b.SpentMicro)})
		}
		out = append(out, t)
	}
	if has["governance"] {
		t := table{name: "governance", title: "GOVERNANCE (proposals and votes)",
			cols: []string{"id", "height", "action", "detail", "proposer", "electorate", "yes", "no", "votes", "outcome", "status_height", "result"},
			free: map[int]bool{3: true, 11: true}}
		for _, p := range r.Governance {
			vs := make([]string, len(p.Votes))
			for k, v := range p.Votes {
				how := "no"
				if v.Yes {
					how = "yes"
				}
				vs[k] = fmt.Sprintf("%s=%s@%d", v.Hospital, how, v.Height)
			}
			t.rows = append(t.rows, []string{u(p.ID), i(p.Height), p.Action, p.Detail, p.Proposer, strings.Join(p.Electorate, " "),
				strings.Join(p.Yes, " "), strings.Join(p.No, " "), strings.Join(vs, " "), p.Outcome, i(p.StatusHeight), p.Result})
		}
		out = append(out, t)
	}
	return out
}

// WriteText writes r as a header and one aligned table per section.
func (r *Report) WriteText(w io.Writer) error {
	ew := &errWriter{w: w}
	fmt.Fprintf(ew, "audit report of chain %s: state at height %d, app hash %s (checked against %s)\n", r.ChainID, r.Height, r.AppHash, r.CheckedBy)
	fmt.Fprintf(ew, "computed by replaying %d blocks (%d txs) from genesis; patients appear by pseudonym, people by address\n", r.Summary.Blocks, r.Summary.Txs)
	if r.Patient != "" || r.Since != 0 {
		fmt.Fprintf(ew, "filters: patient %s, since height %d\n", orAll(r.Patient), r.Since)
	}
	s := r.Summary
	fmt.Fprintf(ew, "summary: %d accesses (%d under a grant, %d emergency), %d refusals (%d denied), break-glass reviews %d open / %d closed, %d queries (ρ %s spent), %d proposals (%d executed)\n",
		s.Accesses, s.UnderGrant, s.Emergency, s.Refusals, s.Denied, s.OpenReviews, s.ClosedReviews, s.Queries, query.FormatMicro(uint64(s.BudgetRhoMicro)), s.Proposals, s.ProposalsPassed)
	for _, t := range r.tables() {
		fmt.Fprintf(ew, "\n%s: %d\n", t.title, len(t.rows))
		if len(t.rows) == 0 {
			continue
		}
		tw := tabwriter.NewWriter(ew, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.cols, "\t")))
		for _, row := range t.rows {
			cells := make([]string, len(row))
			for k, c := range row {
				cells[k] = textCell(c)
				if cells[k] == "" {
					cells[k] = "-"
				}
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(r.Checks) > 0 {
		fmt.Fprintln(ew, "\nCHECKS FAILED:")
		for _, c := range r.Checks {
			fmt.Fprintln(ew, "  "+c)
		}
	}
	return ew.err
}

// WriteCSV writes r as one CSV stream: for each section, a header row
// whose first field is "section" and then the column names, followed by
// its rows, whose first field is the section's name ("access", "refusal",
// "break_glass", "query", "budget", "governance"). Rows of different
// sections have different widths.
func (r *Report) WriteCSV(w io.Writer) error {
	cw := csv.NewWriter(w)
	for _, t := range r.tables() {
		if err := cw.Write(append([]string{"section"}, t.cols...)); err != nil {
			return err
		}
		for _, row := range t.rows {
			cells := make([]string, 0, len(row)+1)
			cells = append(cells, t.name)
			for k, c := range row {
				if t.free[k] {
					c = csvSafe(c)
				}
				cells = append(cells, c)
			}
			if err := cw.Write(cells); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}

// textCell keeps a cell on one line and its column intact: control
// characters (tabs, newlines, escapes) from free text become spaces.
func textCell(s string) string {
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return ' '
		}
		return r
	}, s)
}

// csvSafe keeps a spreadsheet from reading free text as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func orAll(s string) string {
	if s == "" {
		return "all"
	}
	return s
}

// errWriter remembers the first write error.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
