package fleet

import (
	"strings"
	"testing"
)

// TestServerStatus reads the status of one replica from HAProxy's `show
// stat` CSV, whatever the column order, and says what is missing.
func TestServerStatus(t *testing.T) {
	const stat = "# pxname,svname,qcur,status,weight\n" +
		"public,FRONTEND,,OPEN,\n" +
		"gateways,gw1,0,UP,1\n" +
		"gateways,gw2,0,DOWN 1/2,1\n" +
		"other,gw3,0,UP,1\n" +
		"gateways,BACKEND,0,UP,2\n"
	tests := []struct {
		name, stat, server, want, err string
	}{
		{"up", stat, "gw1", "UP", ""},
		// Coming up: one check of the two it needs has passed.
		{"coming up", stat, "gw2", "DOWN 1/2", ""},
		// Only the backend of the replicas counts.
		{"other backend", stat, "gw3", "", "no server gateways/gw3"},
		{"no status column", "# pxname,svname\ngateways,gw1\n", "gw1", "", "no pxname, svname or status column"},
		{"empty", "", "gw1", "", "haproxy stats: EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := serverStatus(strings.NewReader(tc.stat), tc.server)
			switch {
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("status %q, error %v, want an error containing %q", got, err, tc.err)
			case tc.err == "" && (err != nil || got != tc.want):
				t.Fatalf("status %q, error %v, want %q", got, err, tc.want)
			}
		})
	}
}
