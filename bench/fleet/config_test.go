package fleet

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"fanout/bench/launch"
)

// TestConfigChecks: the shipped configuration, with the server lines that
// Start renders, passes `haproxy -c`; without the address it expands, or
// with a server line HAProxy does not know, the check fails and says why.
func TestConfigChecks(t *testing.T) {
	haproxy, err := Binary("haproxy")
	if err != nil {
		t.Fatal(err)
	}
	root, err := launch.ModuleRoot(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(root, ConfigFile)
	servers, err := renderServers([]string{"127.0.0.1:8081", "127.0.0.1:8082"}, []string{"127.0.0.1:9081", "127.0.0.1:9082"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "server gw2 127.0.0.1:8082 check port 9082\n"; !strings.HasSuffix(servers, want) {
		t.Errorf("server lines:\n%s\nwant them to end with %q", servers, want)
	}
	write := func(text string) string {
		path := filepath.Join(t.TempDir(), "servers.cfg")
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	tests := []struct {
		name    string
		servers string
		env     []string
		want    string // a substring of the error; "" for none
	}{
		// What Start runs.
		{"rendered", servers, []string{AddrEnv + "=127.0.0.1:8000"}, ""},
		// The bind line needs the address from the environment.
		{"no address", servers, []string{AddrEnv + "="}, "bind"},
		// A typo in a server line is HAProxy's to report.
		{"bad server line", servers + "    server gw3 127.0.0.1:8083 chek\n", []string{AddrEnv + "=127.0.0.1:8000"}, "chek"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(context.Background(), haproxy, cfg, write(tc.servers), tc.env)
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && err == nil:
				t.Fatalf("haproxy -c accepted it, want an error about %q", tc.want)
			case tc.want != "" && !strings.Contains(err.Error(), tc.want):
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}
