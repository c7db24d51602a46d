// Package servertiming parses the gateway's Server-Timing header:
//
//	experiment;dur=20.41;start=0.02, layer;dur=15.30;start=20.50, total;dur=40.92
//
// one entry per backend call (name, duration and start offset in
// milliseconds) and a "total". The bench and the demo draw waterfalls from it.
package servertiming

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Total is the name of the entry that covers the whole request.
const Total = "total"

// Entry is one metric of a Server-Timing header.
type Entry struct {
	Name     string        `json:"name"`
	Start    time.Duration `json:"start"`    // offset from the request's start; 0 if absent
	Duration time.Duration `json:"duration"` // 0 if absent
	HasStart bool          `json:"has_start"`
}

// Timing is a parsed header: the calls in header order and the total.
type Timing struct {
	Calls []Entry       `json:"calls"`
	Total time.Duration `json:"total"`
}

// Parse parses the values of one or more Server-Timing headers. Unknown
// parameters (desc, ...) are ignored, as the header's specification says; a
// malformed dur or start is an error.
func Parse(values ...string) (Timing, error) {
	var t Timing
	for _, v := range values {
		for item := range strings.SplitSeq(v, ",") {
			item = strings.TrimSpace(item)
			if item == "" {
				continue
			}
			parts := strings.Split(item, ";")
			e := Entry{Name: strings.TrimSpace(parts[0])}
			if e.Name == "" {
				return Timing{}, fmt.Errorf("parse server-timing %q: entry without a name", v)
			}
			for _, p := range parts[1:] {
				k, val, _ := strings.Cut(strings.TrimSpace(p), "=")
				switch strings.ToLower(strings.TrimSpace(k)) {
				case "dur":
					d, err := millis(val)
					if err != nil {
						return Timing{}, fmt.Errorf("parse server-timing %q: %s: dur: %w", v, e.Name, err)
					}
					e.Duration = d
				case "start":
					d, err := millis(val)
					if err != nil {
						return Timing{}, fmt.Errorf("parse server-timing %q: %s: start: %w", v, e.Name, err)
					}
					e.Start, e.HasStart = d, true
				}
			}
			if e.Name == Total {
				t.Total = e.Duration
				continue
			}
			t.Calls = append(t.Calls, e)
		}
	}
	return t, nil
}

func millis(s string) (time.Duration, error) {
	s = strings.Trim(strings.TrimSpace(s), `"`)
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > 1e9 {
		return 0, fmt.Errorf("want a non-negative number of milliseconds, found %q", s)
	}
	return time.Duration(f * float64(time.Millisecond)), nil
}

// End returns the end of the last call (start + duration), which for a
// sequential request is close to the total.
func (t Timing) End() time.Duration {
	var end time.Duration
	for _, c := range t.Calls {
		end = max(end, c.Start+c.Duration)
	}
	return end
}
