package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"fanout/bench/harness"
	"fanout/bench/scenario"
)

// captureOptions replaces runHarness, for the rest of the test, by a func
// that starts nothing and keeps the options of each call in *got.
func captureOptions(t *testing.T, got *[]harness.Options) {
	t.Helper()
	prev := runHarness
	t.Cleanup(func() { runHarness = prev })
	runHarness = func(_ context.Context, _ []*scenario.Scenario, opts harness.Options) ([]harness.Outcome, error) {
		*got = append(*got, opts)
		return nil, nil
	}
}

func TestTargetFlags(t *testing.T) {
	var got []harness.Options
	captureOptions(t, &got)
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
		{"split off", "", []string{"-split", "off", "quick"}, 0, ""},
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
			if tc.name == "split off" {
				if o.NoSplit != "-split off" || o.Target != "" {
					t.Errorf("options: no split %q, target %q", o.NoSplit, o.Target)
				}
				return
			}
			if o.Target != "http://gw.internal:8080" || o.Authorization != "Bearer s3cret" || o.MockAdmin["results"] != "10.0.0.5:9104" {
				t.Errorf("options: target %q, authorization %q, mocks %v", o.Target, o.Authorization, o.MockAdmin)
			}
		})
	}
}

func TestAttackAndMergeUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		err  string // in standard error
	}{
		{[]string{"attack", "-h"}, 0, "bench attack -shard i/N -target URL"},
		{[]string{"merge", "-h"}, 0, "bench merge [-out DIR] SHARD_DIR..."},
		{[]string{"attack", "-shard", "4/3", "-target", "http://gw:8080", "quick"}, 2, "want i/N with 1 <= i <= N"},
		{[]string{"attack", "-shard", "1/3", "quick"}, 2, "-target is required"},
		{[]string{"merge"}, 2, "bench merge [-out DIR] SHARD_DIR..."},
		{[]string{"merge", t.TempDir()}, 2, "read shard"},
	} {
		t.Setenv(TokenEnv, "s3cret")
		var stdout, stderr bytes.Buffer
		if code := run(tc.args, &stdout, &stderr); code != tc.code || !strings.Contains(stderr.String(), tc.err) {
			t.Errorf("%v: exit %d, want %d with %q; stderr:\n%s", tc.args, code, tc.code, tc.err, stderr.String())
		}
	}
}
