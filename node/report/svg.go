package report

import (
	"errors"
	"fmt"
	"html"
	"io"
	"strings"
)

// ErrNoSurvival: a plot was asked of a report without a survival statistic.
var ErrNoSurvival = errors.New("the query has no survival(...) statistic to plot")

// Plot geometry, in SVG user units.
const (
	plotW, plotH           = 720, 440
	marginL, marginR       = 70, 190
	marginT, marginB       = 40, 60
	innerW, innerH         = plotW - marginL - marginR, plotH - marginT - marginB
	survivalTicksY         = 4
	survivalTicksXMaxCount = 10
)

var curveColours = []string{"#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b"}

// WriteSurvivalSVG draws every survival statistic of r as a Kaplan–Meier
// step curve (S against days since onset) in one SVG image.
func WriteSurvivalSVG(w io.Writer, r *Report) error {
	var curves []*Statistic
	horizon := uint32(1)
	for i := range r.Statistics {
		if s := &r.Statistics[i]; s.Kind == "survival" && len(s.Survival) > 0 {
			curves = append(curves, s)
			horizon = max(horizon, s.Survival[len(s.Survival)-1].ToDay)
		}
	}
	if len(curves) == 0 {
		return ErrNoSurvival
	}
	x := func(day uint32) float64 { return marginL + float64(innerW)*float64(day)/float64(horizon) }
	y := func(s float64) float64 { return marginT + float64(innerH)*(1-s) }
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format, a...) }
	p(`<?xml version="1.0" encoding="UTF-8"?>` + "\n")
	p(`<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" viewBox="0 0 %d %d" font-family="sans-serif" font-size="12">`+"\n", plotW, plotH, plotW, plotH)
	p(`<title>%s</title>`+"\n", html.EscapeString(fmt.Sprintf("Kaplan–Meier survival, query %d", r.Query)))
	p(`<rect width="%d" height="%d" fill="white"/>`+"\n", plotW, plotH)
	p(`<text x="%d" y="%d" font-size="14">%s</text>`+"\n", marginL, marginT-16, html.EscapeString(fmt.Sprintf("Kaplan–Meier survival — query %d", r.Query)))
	// Axes, grid and ticks.
	for i := 0; i <= survivalTicksY; i++ {
		s := float64(i) / survivalTicksY
		p(`<line x1="%d" y1="%.2f" x2="%d" y2="%.2f" stroke="#ddd"/>`+"\n", marginL, y(s), marginL+innerW, y(s))
		p(`<text x="%d" y="%.2f" text-anchor="end">%.2f</text>`+"\n", marginL-6, y(s)+4, s)
	}
	step := tickStep(horizon)
	for d := uint32(0); d <= horizon; d += step {
		p(`<line x1="%.2f" y1="%d" x2="%.2f" y2="%d" stroke="#ddd"/>`+"\n", x(d), marginT, x(d), marginT+innerH)
		p(`<text x="%.2f" y="%d" text-anchor="middle">%d</text>`+"\n", x(d), marginT+innerH+16, d)
	}
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", marginL, marginT+innerH, marginL+innerW, marginT+innerH)
	p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="black"/>`+"\n", marginL, marginT, marginL, marginT+innerH)
	p(`<text x="%d" y="%d" text-anchor="middle">days since onset</text>`+"\n", marginL+innerW/2, plotH-16)
	p(`<text x="16" y="%d" text-anchor="middle" transform="rotate(-90 16 %d)">survival S(t)</text>`+"\n", marginT+innerH/2, marginT+innerH/2)
	// One step curve per statistic: S drops at the end of each bin.
	for i, c := range curves {
		colour := curveColours[i%len(curveColours)]
		pts := []string{fmt.Sprintf("%.2f,%.2f", x(0), y(1))}
		prev := 1.0
		for _, bin := range c.Survival {
			pts = append(pts, fmt.Sprintf("%.2f,%.2f", x(bin.ToDay), y(prev)), fmt.Sprintf("%.2f,%.2f", x(bin.ToDay), y(bin.S)))
			prev = bin.S
		}
		p(`<polyline fill="none" stroke="%s" stroke-width="2" points="%s"/>`+"\n", colour, strings.Join(pts, " "))
		ly := marginT + 10 + 20*i
		p(`<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="%s" stroke-width="2"/>`+"\n", plotW-marginR+16, ly, plotW-marginR+40, ly, colour)
		p(`<text x="%d" y="%d">%s</text>`+"\n", plotW-marginR+46, ly+4, html.EscapeString(c.Statistic))
	}
	p("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// tickStep returns a round day step giving at most survivalTicksXMaxCount
// ticks up to horizon.
func tickStep(horizon uint32) uint32 {
	for _, s := range []uint32{1, 2, 5, 7, 10, 14, 30, 60, 90, 180, 365, 730, 1825, 3650, 7300} {
		if horizon/s <= survivalTicksXMaxCount {
			return s
		}
	}
	return horizon
}
