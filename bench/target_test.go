package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"fanout/bench/harness"
	"fanout/bench/scenario"
)

func TestTargetFlags(t *testing.T) {
	var got []harness.Options
	defer func(f func(context.Context, []*scenario.Scenario, harness.Options) ([]harness.Outcome, error)) {
		runHarness = f
	}(runHarness)
	runHarness = func(_ context.Context, _ []*scenario.Scenario, opts harness.Options) ([]harness.Outcome, error) {
		got = append(got, opts)
		return nil, nil
	}
	for _, tc := range []struct {
		name  string
		token string
		args  []string
		code  int
		err   string // in standard error
	}{
		// The token comes from the environment, the mocks from -mock-admin.
		{"target", "s3cret", []string{"-target", "http://gw.internal:8080/", "-mock-admin", "results=http://10.0.0.5:9104", "quick"}, 0, ""},
		// Without a token nothing is sent.
		{"no token", "", []string{"-target", "http://gw.internal:8080", "quick"}, 2, "set $FANOUT_TOKEN"},
		{"not a URL", "s3cret", []string{"-target", "gw.internal:8080", "quick"}, 2, "want the gateway's root URL"},
		// The mocks' addresses are for a target's mocks only.
		{"admin alone", "s3cret", []string{"-mock-admin", "results=http://10.0.0.5:9104", "quick"}, 2, "-mock-admin needs -target"},
		{"bad admin", "s3cret", []string{"-target", "http://gw:8080", "-mock-admin", "results", "quick"}, 2, `"results" is not name=URL`},
		// The hostile tenant needs the bench's own token.
		{"hostile", "s3cret", []string{"-target", "http://gw:8080", "hostile"}, 2, "hostile tenant"},
		{"split", "", []string{"-split", "sideways", "quick"}, 2, `-split "sideways": want auto or off`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(TokenEnv, tc.token)
			got = nil
			var stdout, stderr bytes.Buffer
			if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.err) {
				t.Fatalf("exit %d, want %d with %q; stderr:\n%s", code, tc.code, tc.err, stderr.String())
			}
			if tc.code != 0 {
				if len(got) > 0 {
					t.Errorf("ran after a usage error")
				}
				return
			}
			o := got[0]
			if o.Target != "http://gw.internal:8080" || o.Authorization != "Bearer s3cret" || o.MockAdmin["results"] != "10.0.0.5:9104" {
				t.Errorf("options: target %q, authorization %q, mocks %v", o.Target, o.Authorization, o.MockAdmin)
			}
		})
	}
}
