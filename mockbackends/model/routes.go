package model

import (
	"slices"
	"strings"
)

// Service names.
const (
	ServiceExperiments = "experiments"
	ServiceLayers      = "layers"
	ServiceProjects    = "projects"
	ServiceResults     = "results"
)

// Services lists the backend services in port order (9101..9104).
var Services = []string{ServiceExperiments, ServiceLayers, ServiceProjects, ServiceResults}

// Route names: each names one operation of one service.
const (
	RouteGetExperiment    = "get_experiment"    // GET /experiments/{id}
	RouteListExperiments  = "list_experiments"  // GET /experiments
	RouteCreateExperiment = "create_experiment" // POST /experiments
	RouteGetLayer         = "get_layer"         // GET /layers/{id}
	RouteGetProject       = "get_project"       // GET /projects/{id}
	RouteGetSettings      = "get_settings"      // GET /projects/{id}/settings
	RouteGetResults       = "get_results"       // GET /results/{experiment_id}
)

// RouteInfo describes one route of a backend service.
type RouteInfo struct {
	Service string // e.g. "experiments"
	Name    string // e.g. "get_experiment"
	Method  string // "GET" or "POST"
	Pattern string // e.g. "/experiments/{id}"
}

// Routes is the table of every backend route, grouped by service.
var Routes = []RouteInfo{
	{ServiceExperiments, RouteGetExperiment, "GET", "/experiments/{id}"},
	{ServiceExperiments, RouteListExperiments, "GET", "/experiments"},
	{ServiceExperiments, RouteCreateExperiment, "POST", "/experiments"},
	{ServiceLayers, RouteGetLayer, "GET", "/layers/{id}"},
	{ServiceProjects, RouteGetProject, "GET", "/projects/{id}"},
	{ServiceProjects, RouteGetSettings, "GET", "/projects/{id}/settings"},
	{ServiceResults, RouteGetResults, "GET", "/results/{experiment_id}"},
}

// ServiceRoutes returns the route names of service, in table order, or nil
// for an unknown service.
func ServiceRoutes(service string) []string {
	var names []string
	for _, r := range Routes {
		if r.Service == service {
			names = append(names, r.Name)
		}
	}
	return names
}

// KnownService reports whether service is one of Services.
func KnownService(service string) bool {
	return slices.Contains(Services, service)
}

// KnownRoute reports whether route is a route of service.
func KnownRoute(service, route string) bool {
	return slices.Contains(ServiceRoutes(service), route)
}

// MatchRoute tells which route a request to service hits. Method "" means
// GET, a query string is ignored, and an {id} segment matches any non-empty
// segment (a non-numeric id still hits the route and gets a 404 there).
// Admin paths (/_admin/...) match no route.
func MatchRoute(service, method, path string) (route string, ok bool) {
	if method == "" {
		method = "GET"
	}
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path = path[:i]
	}
	segs := strings.Split(strings.TrimPrefix(path, "/"), "/")
	if !strings.HasPrefix(path, "/") || len(segs) == 0 {
		return "", false
	}
	for _, s := range segs {
		if s == "" {
			return "", false
		}
	}
	switch service {
	case ServiceExperiments:
		if segs[0] != "experiments" {
			return "", false
		}
		switch {
		case len(segs) == 1 && method == "GET":
			return RouteListExperiments, true
		case len(segs) == 1 && method == "POST":
			return RouteCreateExperiment, true
		case len(segs) == 2 && method == "GET":
			return RouteGetExperiment, true
		}
	case ServiceLayers:
		if segs[0] == "layers" && len(segs) == 2 && method == "GET" {
			return RouteGetLayer, true
		}
	case ServiceProjects:
		if segs[0] != "projects" || method != "GET" {
			return "", false
		}
		switch {
		case len(segs) == 2:
			return RouteGetProject, true
		case len(segs) == 3 && segs[2] == "settings":
			return RouteGetSettings, true
		}
	case ServiceResults:
		if segs[0] == "results" && len(segs) == 2 && method == "GET" {
			return RouteGetResults, true
		}
	}
	return "", false
}
