package launch

import (
	"context"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

// TestStartMocksAndGateway starts the real programs as the harness and the
// demo do: every mock service on its own announced port, a gateway pointed
// at all of them that answers a fan-out route, and its admin listener
// announced on the later LISTEN line only when asked for.
func TestStartMocksAndGateway(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	bins, err := Binaries{}.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	mocks, err := StartMocks(ctx, bins.Mocks, []string{"-latency", "results=none", "-log-level", "error"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer mocks.Stop(DefaultGrace)
	for _, svc := range model.Services {
		if mocks.Addr(svc) == "" {
			t.Errorf("no address for %s", svc)
		}
	}
	for _, admin := range []bool{true, false} {
		gw, err := StartGateway(ctx, bins.Gateway, Gateway{Mode: "pool", PoolSize: 2, Admin: admin, Args: []string{"-log-level", "error"}}, mocks, nil)
		if err != nil {
			t.Fatal(err)
		}
		// The gateway holds the bench's token and the hostile tenant's,
		// and only those.
		for auth, want := range map[string]int{Authorization: http.StatusOK, HostileAuthorization: http.StatusOK, "Bearer other": http.StatusUnauthorized} {
			req, err := http.NewRequest(http.MethodGet, "http://"+gw.Addr("gateway")+"/v2/experiments/42/results", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", auth)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != want {
				t.Errorf("admin %v: GET results with %q: %s, want %d from a gateway wired to every mock", admin, auth, resp.Status, want)
			}
		}
		if got := gw.Addr("admin") != ""; got != admin {
			t.Errorf("admin %v: an admin address was announced: %v", admin, got)
		}
		if err := gw.Stop(DefaultGrace); err != nil {
			t.Errorf("stop gateway: %v", err)
		}
	}
}

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
