package config_test

import (
	"strings"
	"testing"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/config"
)

// TestUsageListsEveryMode: the config file's mode line in the usage text
// lists the modes fanout declares, every one, in its order: the usage
// keeps no list of its own that a new mode could miss.
func TestUsageListsEveryMode(t *testing.T) {
	want := "# " + strings.Join(fanout.Modes, " | ")
	for _, line := range strings.Split(config.Usage(), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "mode:") {
			if !strings.HasSuffix(line, want) {
				t.Errorf("usage: %q, want it to end %q", line, want)
			}
			return
		}
	}
	t.Fatal("usage has no mode: line")
}
