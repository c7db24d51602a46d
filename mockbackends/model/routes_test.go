package model

import "testing"

func TestMatchRoute(t *testing.T) {
	tests := []struct {
		service, method, path string
		want                  string // "" when no route matches
	}{
		{"experiments", "GET", "/experiments/42", RouteGetExperiment},
		{"experiments", "", "/experiments/abc", RouteGetExperiment},
		{"experiments", "GET", "/experiments", RouteListExperiments},
		{"experiments", "GET", "/experiments?project_id=3&page=2", RouteListExperiments},
		{"experiments", "POST", "/experiments", RouteCreateExperiment},
		{"experiments", "POST", "/experiments/42", ""},
		{"experiments", "DELETE", "/experiments/42", ""},
		{"experiments", "GET", "/experiments/42/extra", ""},
		{"experiments", "GET", "/experiments/", ""},
		{"experiments", "GET", "/layers/1", ""},
		{"layers", "GET", "/layers/7", RouteGetLayer},
		{"layers", "GET", "/layers", ""},
		{"projects", "GET", "/projects/3", RouteGetProject},
		{"projects", "GET", "/projects/3/settings", RouteGetSettings},
		{"projects", "GET", "/projects/3/other", ""},
		{"results", "GET", "/results/42", RouteGetResults},
		{"results", "GET", "/results/42?x=1", RouteGetResults},
		{"results", "GET", "/_admin/config", ""},
		{"results", "GET", "results/42", ""},
		{"billing", "GET", "/billing/1", ""},
	}
	for _, tt := range tests {
		got, ok := MatchRoute(tt.service, tt.method, tt.path)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("MatchRoute(%s, %s, %s) = %q, %v; want %q", tt.service, tt.method, tt.path, got, ok, tt.want)
		}
	}
}

func TestRoutesTable(t *testing.T) {
	// Every route of the table matches its own pattern, and only in its
	// own service.
	for _, r := range Routes {
		path := r.Pattern
		for _, p := range []string{"{id}", "{experiment_id}"} {
			if i := indexOf(path, p); i >= 0 {
				path = path[:i] + "12" + path[i+len(p):]
			}
		}
		for _, s := range Services {
			got, ok := MatchRoute(s, r.Method, path)
			if s == r.Service && (!ok || got != r.Name) {
				t.Errorf("%s %s on %s = %q, want %q", r.Method, path, s, got, r.Name)
			}
			if s != r.Service && ok {
				t.Errorf("%s %s matched %q on %s", r.Method, path, got, s)
			}
		}
		if !KnownRoute(r.Service, r.Name) {
			t.Errorf("KnownRoute(%s, %s) = false", r.Service, r.Name)
		}
	}
	if len(ServiceRoutes("billing")) != 0 || KnownService("billing") {
		t.Error("unknown service has routes")
	}
}

func indexOf(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}
