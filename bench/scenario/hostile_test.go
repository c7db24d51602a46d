package scenario

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// hostileBase is a scenario with a phase "attack" from 2 s, to which the
// tests add a hostile section.
const hostileBase = "targets: [{path: /v2/projects/1}]\nload: {rates: [10], duration: 5s}\n" +
	"events: [{at: 2s, name: attack, service: projects, set: {latency: fixed:1ms}}]\n"

// TestDecodeHostile: a hostile tenant's section, with its defaults, and the
// phase it starts at.
func TestDecodeHostile(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want Hostile
		from time.Duration
	}{
		// Each row proves one accepted form and what it decodes to.
		{"uploads from a phase, default path", "hostile: {from: attack, uploads: {clients: 8, bytes_per_second: 4, body: '{}'}}\n",
			Hostile{From: "attack", Uploads: &Uploads{Clients: 8, BytesPerSecond: 4, Path: DefaultUploadPath, Body: "{}"}}, 2 * time.Second},
		{"requests from the start", "hostile: {rate: 20, targets: [{path: '/v2/projects/{id}', ids: 1-50}]}\n",
			Hostile{From: FirstPhase, Rate: 20, Targets: []Target{{Name: "GET /v2/projects/{id}", Method: "GET", Path: "/v2/projects/{id}", IDs: IDRange{Min: 1, Max: 50}, Weight: 1}}}, 0},
		{"both, an upload path of its own", "hostile: {from: before, uploads: {clients: 1, bytes_per_second: 1, path: /v2/other, body: x}, rate: 1, targets: [{path: /x}]}\n",
			Hostile{From: FirstPhase, Uploads: &Uploads{Clients: 1, BytesPerSecond: 1, Path: "/v2/other", Body: "x"}, Rate: 1,
				Targets: []Target{{Name: "GET /x", Method: "GET", Path: "/x", Weight: 1}}}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Decode(strings.NewReader(hostileBase+tc.src), "h.yaml")
			if err != nil {
				t.Fatal(err)
			}
			h := s.Hostile
			if h == nil {
				t.Fatal("no hostile tenant")
			}
			if h.From != tc.want.From || h.Rate != tc.want.Rate || len(h.Targets) != len(tc.want.Targets) ||
				(h.Uploads == nil) != (tc.want.Uploads == nil) || h.Uploads != nil && *h.Uploads != *tc.want.Uploads {
				t.Errorf("decoded %+v (uploads %+v), want %+v (uploads %+v)", *h, h.Uploads, tc.want, tc.want.Uploads)
			}
			for i := range h.Targets {
				if h.Targets[i] != tc.want.Targets[i] {
					t.Errorf("target %d: %+v, want %+v", i, h.Targets[i], tc.want.Targets[i])
				}
			}
			if got := s.PhaseStart(h.From); got != tc.from {
				t.Errorf("starts at %v, want %v", got, tc.from)
			}
		})
	}
	s, err := Decode(strings.NewReader(hostileBase), "h.yaml")
	if err != nil || s.Hostile != nil {
		t.Errorf("without a hostile section: %+v, %v; want none", s.Hostile, err)
	}
}

// TestDecodeHostileErrors: every mistake in a hostile section is refused
// with the field and the reason, before anything starts.
func TestDecodeHostileErrors(t *testing.T) {
	const up = "uploads: {clients: 8, bytes_per_second: 4, body: x}"
	for _, tc := range []struct {
		name string
		src  string
		want string // "line: path: reason" fragment
	}{
		// Each row proves one refused section and what the error says.
		{"nothing to do", "hostile: {from: attack}\n", ":4: hostile: want uploads, or a rate and targets"},
		{"unknown field", "hostile: {" + up + ", clients: 3}\n", "hostile.clients: unknown field"},
		{"unknown phase", "hostile: {from: later, " + up + "}\n", "hostile.from: unknown phase \"later\" (phases: before, attack)"},
		{"a phase without events", "", ""}, // filled below
		{"no clients", "hostile: {uploads: {bytes_per_second: 4, body: x}}\n", "hostile.uploads.clients: required"},
		{"zero clients", "hostile: {uploads: {clients: 0, bytes_per_second: 4, body: x}}\n", "hostile.uploads.clients: must be at least 1"},
		{"too many clients", "hostile: {uploads: {clients: 5000, bytes_per_second: 4, body: x}}\n", "hostile.uploads.clients: at most 1000"},
		{"fractional pace", "hostile: {uploads: {clients: 1, bytes_per_second: 0.5, body: x}}\n", "hostile.uploads.bytes_per_second: want an integer"},
		{"no body", "hostile: {uploads: {clients: 1, bytes_per_second: 4}}\n", "hostile.uploads.body: required"},
		{"empty body", "hostile: {uploads: {clients: 1, bytes_per_second: 4, body: ''}}\n", "hostile.uploads.body: empty"},
		{"upload path without slash", "hostile: {uploads: {clients: 1, bytes_per_second: 4, body: x, path: v2/x}}\n", "hostile.uploads.path: want a path from '/'"},
		{"rate without targets", "hostile: {rate: 5}\n", "hostile.targets: required with a rate"},
		{"targets without rate", "hostile: {targets: [{path: /x}]}\n", "hostile.rate: required with targets"},
		{"zero rate", "hostile: {rate: 0, targets: [{path: /x}]}\n", "hostile.rate: must be positive"},
		{"bad target", "hostile: {rate: 5, targets: [{path: '/x/{id}'}]}\n", "hostile.targets[0].ids: required"},
		{"empty targets", "hostile: {rate: 5, targets: []}\n", "hostile.targets: empty"},
	} {
		src := hostileBase + tc.src
		if tc.name == "a phase without events" {
			src = "targets: [{path: /x}]\nload: {rates: [10]}\nhostile: {from: attack, " + up + "}\n"
			tc.want = "hostile.from: unknown phase \"attack\" (phases: none: the scenario has no events)"
		}
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(strings.NewReader(src), "file.yaml")
			if err == nil {
				t.Fatalf("decoded, want an error containing %q", tc.want)
			}
			var se *Error
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "file.yaml") || !errors.As(err, &se) {
				t.Fatalf("error %q (%T), want a scenario error from the file name containing %q", err, err, tc.want)
			}
		})
	}
	// A capacity search has no fixed rates to run beside.
	_, err := Decode(strings.NewReader("targets: [{path: /x}]\nload: {capacity: {p99: 100ms}}\nhostile: {uploads: {clients: 1, bytes_per_second: 1, body: x}}\n"), "c.yaml")
	if err == nil || !strings.Contains(err.Error(), "hostile: not supported with a capacity search") {
		t.Errorf("with a capacity search: %v", err)
	}
}
