package harness

import (
	"errors"
	"fmt"
	"strings"

	"fanout/bench/scenario"
	"fanout/gateway/assembly"
)

// Route is one public operation of the gateway: its method and the
// document's path template, e.g. GET /v2/experiments/{experiment_id}.
type Route struct {
	Method string
	Path   string
}

// String formats the route as "GET /v2/experiments/{experiment_id}".
func (r Route) String() string { return r.Method + " " + r.Path }

// Routes returns the public operations of the document the gateway
// embeds, sorted by path then method.
func Routes() ([]Route, error) {
	doc, err := assembly.Spec()
	if err != nil {
		return nil, fmt.Errorf("load the gateway's document: %w", err)
	}
	var out []Route
	for _, op := range doc.Operations() {
		out = append(out, Route{Method: op.Method, Path: op.Path})
	}
	return out, nil
}

// serves reports whether the route answers method and path: the path's
// segments match the template's one by one, a template parameter
// ("{experiment_id}") matching any non-empty segment, "{id}" included.
// A query string is no part of the match.
func (r Route) serves(method, path string) bool {
	if r.Method != method {
		return false
	}
	path, _, _ = strings.Cut(path, "?")
	want, got := strings.Split(r.Path, "/"), strings.Split(path, "/")
	if len(want) != len(got) {
		return false
	}
	for i, w := range want {
		param := strings.HasPrefix(w, "{") && strings.HasSuffix(w, "}")
		if param && got[i] == "" || !param && w != got[i] {
			return false
		}
	}
	return true
}

// CheckRoutes reports every request of s that no operation of routes
// serves: its targets, its hostile tenant's targets and uploads. Such a
// request would only ever be answered 404 or 405, and a step of them
// measures the router's refusal, not the workload the scenario means, so
// the scenario is refused before anything starts. The error lists the
// routes that exist.
func CheckRoutes(s *scenario.Scenario, routes []Route) error {
	type request struct{ where, method, path string }
	var reqs []request
	for i, t := range s.Targets {
		reqs = append(reqs, request{fmt.Sprintf("targets[%d]", i), t.Method, t.Path})
	}
	if h := s.Hostile; h != nil {
		for i, t := range h.Targets {
			reqs = append(reqs, request{fmt.Sprintf("hostile.targets[%d]", i), t.Method, t.Path})
		}
		if h.Uploads != nil {
			reqs = append(reqs, request{"hostile.uploads.path", "POST", h.Uploads.Path})
		}
	}
	var errs []error
	for _, q := range reqs {
		found := false
		for _, r := range routes {
			found = found || r.serves(q.method, q.path)
		}
		if !found {
			errs = append(errs, fmt.Errorf("%s: %s: no operation of the gateway serves %s %s", s.File, q.where, q.method, q.path))
		}
	}
	if len(errs) == 0 {
		return nil
	}
	known := make([]string, len(routes))
	for i, r := range routes {
		known[i] = r.String()
	}
	errs = append(errs, fmt.Errorf("%s: the gateway's operations: %s", s.File, strings.Join(known, ", ")))
	return errors.Join(errs...)
}
