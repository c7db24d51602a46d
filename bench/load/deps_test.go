package load

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoGatewayDependency checks that the attack library, the results and
// the report import nothing of the gateway, directly or not: they read
// distributions from package dist, so that a change in the gateway does
// not rebuild them and the attack library stays a library of its own.
func TestNoGatewayDependency(t *testing.T) {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to list the dependencies: %v", err)
	}
	pkgs := []string{"fanout/bench/load", "fanout/bench/result", "fanout/bench/report"}
	out, err := exec.Command(goCmd, append([]string{"list", "-deps", "-f", "{{.ImportPath}}"}, pkgs...)...).Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v", strings.Join(pkgs, " "), err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "fanout/gateway" || strings.HasPrefix(dep, "fanout/gateway/") {
			t.Errorf("%s depends on %s", strings.Join(pkgs, ", "), dep)
		}
	}
}
