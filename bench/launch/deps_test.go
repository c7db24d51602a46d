package launch

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestGatewayAndMocksDoNotImportBench holds the one-way rule of the layout:
// bench depends on the gateway and the mock backends, never the reverse, and
// that includes their tests (go list -test), so that the gateway's tests run
// and mean the same without the bench tree.
func TestGatewayAndMocksDoNotImportBench(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	root, err := ModuleRoot(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, "go", "list", "-test", "-f", `{{.ImportPath}} {{join .Deps " "}}`,
		"./gateway/...", "./mockbackends/...")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	listed := 0
	for line := range strings.Lines(string(out)) {
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		listed++
		for _, dep := range fields[1:] {
			if dep == "fanout/bench" || strings.HasPrefix(dep, "fanout/bench/") {
				t.Errorf("%s depends on %s: the gateway and mock backends must not import bench", fields[0], dep)
			}
		}
	}
	// A listing of nothing would pass vacuously.
	if listed == 0 {
		t.Fatal("go list listed no package under gateway/ or mockbackends/")
	}
}
