package config

import (
	"io"
	"strings"
	"testing"
)

// TestPolicySettings checks -hedge-budget (a percentage or a fraction, 0
// turning hedging off, out of range refused) and -coalesce on|off, as
// flags and in the file.
func TestPolicySettings(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.HedgeBudget != 0.05 || !c.Coalesce {
		t.Errorf("defaults: hedge budget %v, coalesce %v; want 5%% and on", c.HedgeBudget, c.Coalesce)
	}
	for _, tc := range []struct {
		args   []string
		budget Ratio
		on     bool
	}{
		{[]string{"-hedge-budget", "10%"}, 0.1, true},
		{[]string{"-hedge-budget", "0.02"}, 0.02, true},
		{[]string{"-hedge-budget", "0", "-coalesce", "off"}, 0, false},
	} {
		c, err := Parse(tc.args, io.Discard)
		if err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if c.HedgeBudget != tc.budget || bool(c.Coalesce) != tc.on {
			t.Errorf("%q: hedge budget %v, coalesce %v", tc.args, c.HedgeBudget, c.Coalesce)
		}
	}
	for _, bad := range [][]string{{"-hedge-budget", "150%"}, {"-hedge-budget", "-1%"}, {"-hedge-budget", "lots"}, {"-coalesce", "maybe"}} {
		if _, err := Parse(bad, io.Discard); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	f, err := Decode([]byte("hedge_budget: 0\ncoalesce: off\n"))
	if err != nil || f.HedgeBudget != 0 || f.Coalesce {
		t.Errorf("file: %+v %v", f.HedgeBudget, err)
	}
	if _, err := Decode([]byte("hedge_budget: 2\n")); err == nil || !strings.Contains(err.Error(), "between 0 and 1") {
		t.Errorf("file with a budget of 2: %v", err)
	}
}
