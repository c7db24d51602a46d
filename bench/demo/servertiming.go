package demo

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// A Span is one backend call of a public request as the gateway's
// Server-Timing header reports it: its name, when it started relative to the
// start of the request, and how long it took.
type Span struct {
	Name  string
	Start time.Duration
	Dur   time.Duration
}

// End is the offset at which the call finished.
func (s Span) End() time.Duration { return s.Start + s.Dur }

// Timing is a parsed Server-Timing header: the calls in the order the
// gateway listed them and the total it reported.
type Timing struct {
	Spans []Span
	// Total is the "total" entry's duration; zero when the header has none.
	Total time.Duration
}

// ParseServerTiming parses a Server-Timing header value such as
// `experiment;dur=20.41;start=0.02, results;dur=40.30;start=0.03, total;dur=40.92`.
// Durations are milliseconds. An entry without `start` starts at zero;
// unknown parameters (desc, ...) are ignored. Several header lines may be
// joined with commas before the call.
func ParseServerTiming(header string) (Timing, error) {
	var t Timing
	for _, entry := range splitOutsideQuotes(header, ',') {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		parts := splitOutsideQuotes(entry, ';')
		name := strings.TrimSpace(parts[0])
		if name == "" {
			return Timing{}, fmt.Errorf("server-timing entry %q: empty name", entry)
		}
		var s Span
		s.Name = name
		for _, p := range parts[1:] {
			key, val, ok := strings.Cut(strings.TrimSpace(p), "=")
			if !ok {
				continue // a parameter without a value, e.g. `miss`: nothing to draw
			}
			key = strings.ToLower(strings.TrimSpace(key))
			if key != "dur" && key != "start" {
				continue
			}
			ms, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(val), `"`), 64)
			if err != nil || ms < 0 {
				return Timing{}, fmt.Errorf("server-timing entry %q: %s=%q is not a non-negative number of milliseconds", entry, key, val)
			}
			d := time.Duration(ms * float64(time.Millisecond))
			if key == "dur" {
				s.Dur = d
			} else {
				s.Start = d
			}
		}
		if strings.EqualFold(name, "total") {
			t.Total = s.Dur
			continue
		}
		t.Spans = append(t.Spans, s)
	}
	return t, nil
}

// splitOutsideQuotes splits s at sep, leaving separators inside double-quoted
// strings (a desc="a, b" parameter) alone.
func splitOutsideQuotes(s string, sep byte) []string {
	var out []string
	inQuote, escaped, from := false, false, 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case escaped:
			escaped = false
		case inQuote && c == '\\':
			escaped = true
		case c == '"':
			inQuote = !inQuote
		case !inQuote && c == sep:
			out = append(out, s[from:i])
			from = i + 1
		}
	}
	return append(out, s[from:])
}

// Critical returns the span that finished last: the end of the chain that
// decided the request's latency.
func (t Timing) Critical() (Span, bool) {
	var last Span
	found := false
	for _, s := range t.Spans {
		if !found || s.End() > last.End() {
			last, found = s, true
		}
	}
	return last, found
}
