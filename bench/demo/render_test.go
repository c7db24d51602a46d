package demo

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

func TestTimelineDrawsLanesOnOneAxis(t *testing.T) {
	var buf bytes.Buffer
	timeline(&buf, palette{}, "", []lane{
		{Label: "slow", Start: 0, End: 300 * time.Millisecond, Note: "300 ms"},
		{Label: "fast", Start: 20 * time.Millisecond, End: 120 * time.Millisecond, Note: "100 ms"},
	}, 400*time.Millisecond, 40)
	want := "" +
		"slow │██████████████████████████████          │ 300 ms\n" +
		"fast │  ██████████                            │ 100 ms\n" +
		"     0         100       200       300       400 ms\n"
	if got := buf.String(); got != want {
		t.Errorf("timeline:\n%s\nwant:\n%s", got, want)
	}
}

func TestTimelineKeepsShortCallsVisible(t *testing.T) {
	var buf bytes.Buffer
	// A 0.1 ms call on a 1 s axis still gets a cell, and the span grows to
	// the latest end.
	timeline(&buf, palette{}, "", []lane{
		{Label: "a", Start: 0, End: 100 * time.Microsecond},
		{Label: "b", Start: 0, End: 2 * time.Second},
	}, time.Second, 20)
	lines := strings.Split(buf.String(), "\n")
	if !strings.Contains(lines[0], "│█ ") {
		t.Errorf("short call not drawn: %q", lines[0])
	}
	if !strings.Contains(lines[1], strings.Repeat("█", 20)) {
		t.Errorf("span did not grow to the latest end: %q", lines[1])
	}
}

func TestColourOnlyWhenAsked(t *testing.T) {
	var plain, coloured bytes.Buffer
	ls := []lane{{Label: "x", End: time.Millisecond}}
	timeline(&plain, palette{}, "", ls, 0, 10)
	timeline(&coloured, palette{on: true}, "", ls, 0, 10)
	if strings.Contains(plain.String(), "\x1b[") {
		t.Errorf("plain output has escapes: %q", plain.String())
	}
	if !strings.Contains(coloured.String(), "\x1b[") {
		t.Errorf("coloured output has no escapes")
	}
	if stripANSI(coloured.String()) != plain.String() {
		t.Errorf("colour changed the text:\n%q\n%q", stripANSI(coloured.String()), plain.String())
	}
}

func TestHbar(t *testing.T) {
	tests := []struct {
		value, full float64
		width       int
		want        string
	}{
		{10, 10, 4, "████"},         // full scale fills the width
		{5, 10, 4, "██"},            // half
		{1, 10, 4, "▍"},             // 0.4 of a cell, to the eighth: 3/8
		{0.0001, 10, 4, "▏"},        // anything measured shows
		{0, 10, 4, ""},              // nothing is nothing
		{20, 10, 4, "███▶"},         // off scale says so
		{math.NaN(), 10, 4, ""},     // not measured
		{3, 0, 4, ""},               // no scale
		{2.5, 10, 4, "█"},           // exactly one cell
		{2.5 + 1.25/4, 10, 4, "█▏"}, // one cell and an eighth
	}
	for _, tc := range tests {
		if got := hbar(tc.value, tc.full, tc.width); got != tc.want {
			t.Errorf("hbar(%v, %v, %d) = %q, want %q", tc.value, tc.full, tc.width, got, tc.want)
		}
	}
}

func TestAxisLabels(t *testing.T) {
	tests := []struct {
		span  time.Duration
		width int
		want  string
	}{
		{400 * time.Millisecond, 40, "0         100       200       300       400 ms"},
		{90 * time.Millisecond, 45, "0         20        40        60        80 ms"},
	}
	for _, tc := range tests {
		if got := axis(tc.span, tc.width); got != tc.want {
			t.Errorf("axis(%v, %d) =\n%q, want\n%q", tc.span, tc.width, got, tc.want)
		}
	}
}

func TestMsFormats(t *testing.T) {
	for d, want := range map[time.Duration]string{
		42300 * time.Microsecond: "42.3 ms",
		301 * time.Millisecond:   "301 ms",
		2100 * time.Millisecond:  "2.10 s",
		12 * time.Second:         "12.0 s",
	} {
		if got := ms(d); got != want {
			t.Errorf("ms(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestLimitsOfTheGatewaysPlan(t *testing.T) {
	// Default backends: experiments 20, layers 15, projects 10, results 40 ms.
	// layer and settings wait for the experiment; results waits for nothing.
	got, err := routeLimits(resultsRoute, model.Default())
	if err != nil {
		t.Fatal(err)
	}
	want := Limits{CriticalPath: 40 * time.Millisecond, Levels: 55 * time.Millisecond, Sum: 85 * time.Millisecond}
	if got != want {
		t.Errorf("limits %+v, want %+v", got, want)
	}
	if _, err := routeLimits("/v2/nothing/{id}", model.Default()); err == nil {
		t.Error("a route without x-fanout gave no error")
	}
}

func TestWrap(t *testing.T) {
	got := wrap("drawn from Server-Timing: a;dur=1 b;dur=2 c;dur=3", 20, "  ")
	want := "drawn from\n  Server-Timing:\n  a;dur=1 b;dur=2\n  c;dur=3"
	if got != want {
		t.Errorf("wrap:\n%s\nwant:\n%s", got, want)
	}
}
