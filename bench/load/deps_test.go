package load

import (
	"os/exec"
	"strings"
	"testing"
)

// TestDependencies checks what the attack library, the results and the
// report may not import, directly or not: none of them the gateway (they
// read distributions from package dist, so a change in the gateway does
// not rebuild them), and the attack library not the scenario file format
// either (the harness converts a scenario's targets into load's).
func TestDependencies(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to list the dependencies: %v", err)
	}
	for _, tc := range []struct {
		pkg       string
		forbidden []string
	}{
		{"fanout/bench/load", []string{"fanout/gateway", "fanout/bench/scenario"}},
		{"fanout/bench/result", []string{"fanout/gateway"}},
		{"fanout/bench/report", []string{"fanout/gateway"}},
	} {
		out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{.ImportPath}}", tc.pkg).Output()
		if err != nil {
			t.Fatalf("go list -deps %s: %v", tc.pkg, err)
		}
		for _, dep := range strings.Fields(string(out)) {
			for _, f := range tc.forbidden {
				if dep == f || strings.HasPrefix(dep, f+"/") {
					t.Errorf("%s depends on %s", tc.pkg, dep)
				}
			}
		}
	}
}
