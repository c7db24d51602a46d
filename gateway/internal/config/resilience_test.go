package config

import (
	"io"
	"strings"
	"testing"
	"time"
)

// TestResilienceFlags: each policy's flag and YAML key reach the config,
// and the defaults are overload on, breaker off, a 10 % retry budget.
func TestResilienceFlags(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Overload || c.Breaker || c.RetryBudget != 0.1 {
		t.Errorf("defaults: overload %v breaker %v retry budget %v", c.Overload, c.Breaker, c.RetryBudget)
	}
	c, err = Parse([]string{"-overload", "off", "-overload-max", "500", "-retry-budget", "0", "-breaker", "on", "-breaker-failures", "7",
		"-breaker-failure-rate", "25%", "-breaker-open", "3s", "-breaker-probes", "2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Resilience{Overload: false, OverloadMax: 500, Breaker: true, BreakerFailures: 7, BreakerFailureRate: 0.25,
		BreakerOpen: 3 * time.Second, BreakerProbes: 2, RetryBudget: 0}
	if c.Resilience != want {
		t.Errorf("flags: %+v, want %+v", c.Resilience, want)
	}
	c, err = Decode([]byte("overload: off\nretry_budget: 5%\nbreaker: on\nbreaker_failure_rate: 0.3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Overload || !c.Breaker || c.RetryBudget != 0.05 || c.BreakerFailureRate != 0.3 {
		t.Errorf("yaml: %+v", c.Resilience)
	}
}

// TestResilienceRefused: values out of range stop start-up, naming the
// setting.
func TestResilienceRefused(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-overload", "maybe"}, "overload"},
		{[]string{"-retry-budget", "150%"}, "retry-budget"},
		{[]string{"-retry-budget", "-1"}, "retry-budget"},
		{[]string{"-breaker-failure-rate", "0"}, "breaker_failure_rate"},
		{[]string{"-breaker-failures", "0"}, "breaker-failures"},
		{[]string{"-breaker-open", "0s"}, "breaker_open"},
		{[]string{"-overload-max", "0"}, "overload_max"},
	} {
		_, err := Parse(tc.args, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err %v, want one naming %s", tc.args, err, tc.want)
		}
	}
}
