package demo

import (
	"bytes"
	"math"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestPageIsSelfContained(t *testing.T) {
	var out bytes.Buffer
	s := &show{out: &out, pal: palette{on: true}, width: 30, page: &page{title: "t"}}
	s.act("The event loop", "lead <paragraph> & more\n")
	lanes := []lane{
		{Label: "slow", Start: 0, End: 300 * time.Millisecond},
		{Label: "fast", Start: 20 * time.Millisecond, End: 120 * time.Millisecond},
	}
	timeline(s, s.pal, "  ", lanes, 0, s.width)
	svg, err := ganttSVG("concurrent mode", lanes, 400*time.Millisecond, []limitLine{{x: 40, label: "critical path"}})
	if err != nil {
		t.Fatal(err)
	}
	s.chart(svg, "caption")
	s.act("Under load", "bars\n")
	thr := []series{{Name: "pool", Values: []float64{10, 20, 25}, Broken: 2}, {Name: "blocking", Values: []float64{10, math.NaN(), math.NaN()}, Broken: 0}}
	svg, err = barsSVG("throughput", "req/s", []string{"10", "20", "40"}, thr, &limitLine{x: 15, label: "SLO"})
	if err != nil {
		t.Fatal(err)
	}
	s.chart(svg, "")
	svg, err = linesSVG("p99", "rate", "ms", []float64{10, 20, 40}, thr, []limitLine{{x: 23, label: "capacity"}})
	if err != nil {
		t.Fatal(err)
	}
	s.chart(svg, "")

	var html bytes.Buffer
	if _, err := s.page.WriteTo(&html); err != nil {
		t.Fatal(err)
	}
	h := html.String()
	if n := strings.Count(h, "<svg"); n != 3 {
		t.Errorf("page has %d inline charts, want 3", n)
	}
	if strings.Contains(h, "<?xml") {
		t.Error("page inlines an XML prolog")
	}
	if strings.Contains(h, "\x1b[") {
		t.Error("page has terminal colour escapes")
	}
	// Self-contained: nothing loaded from elsewhere.
	if m := regexp.MustCompile(`(?i)(src|href)\s*=\s*"(https?:|//)|<link|@import|url\(`).FindString(h); m != "" {
		t.Errorf("page loads an external asset: %q", m)
	}
	for _, want := range []string{"<h2>1. The event loop</h2>", "<h2>2. Under load</h2>", "lead &lt;paragraph&gt; &amp; more", "slow │"} {
		if !strings.Contains(h, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// The terminal got the colour, the page did not.
	if !strings.Contains(out.String(), "\x1b[") {
		t.Error("terminal output lost its colour")
	}
}
