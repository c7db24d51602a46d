package main

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

func TestHelp(t *testing.T) {
	var out bytes.Buffer
	err := run([]string{"-h"}, io.Discard, &out)
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"LISTEN experiments=", "Examples:", "-latency results=lognormal", "-no-latency", "-config", "-seed", "/_admin/config"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q", want)
		}
	}
}

func TestFlagErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("backends:\n  results:\n    latency: {kind: fixed, value: -1ms}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		want string // a part of the error
	}{
		// Each row proves one rejected command line and what it says.
		{[]string{"-latency", "results"}, "SERVICE[.ROUTE]=SPEC"},
		{[]string{"-latency", "billing=fixed:1ms"}, "unknown service"},
		{[]string{"-latency", "results.get_layer=fixed:1ms"}, "unknown route"},
		{[]string{"-latency", "results=fast"}, "unknown latency kind"},
		{[]string{"-config", filepath.Join(dir, "missing.yaml")}, "no such file"},
		{[]string{"-config", bad}, "bad.yaml:3: backends.results.latency.value: must not be negative"},
		{[]string{"-projects", "0"}, "at least 1"},
		{[]string{"-log-level", "loud"}, "-log-level"},
		{[]string{"extra"}, "unexpected arguments"},
		{[]string{"-experiments-addr", "127.0.0.1:0", "-layers-addr", "127.0.0.1:0", "-projects-addr", "127.0.0.1:0", "-results-addr", "256.0.0.1:1"}, "listen results"},
	}
	for _, tt := range tests {
		err := run(tt.args, io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("run(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

func TestBuildConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "backends.yaml")
	if err := os.WriteFile(file, []byte("backends:\n  results:\n    latency: fixed:5ms\n    max_in_flight: 3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := buildConfig(file, []string{"results.get_results=uniform:min=1ms,max=2ms", "layers=none"})
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.RouteLatency("results", model.RouteGetResults); got.Kind != model.KindUniform {
		t.Errorf("route override from the flag: %v", got)
	}
	if cfg["results"].MaxInFlight != 3 || cfg["results"].Latency.String() != "fixed:5ms" {
		t.Errorf("file settings lost: %+v", cfg["results"])
	}
	if got := cfg.RouteLatency("layers", model.RouteGetLayer); got.Kind != model.KindNone {
		t.Errorf("layers: %v", got)
	}
	// Services the file leaves out keep the defaults.
	if got := cfg.RouteLatency("experiments", model.RouteGetExperiment); got.String() != "fixed:20ms" {
		t.Errorf("experiments: %v", got)
	}
}

// TestRunAnnouncesAndStops runs the command in process: it prints one
// LISTEN line with the bound ports, serves, and returns nil on SIGTERM.
func TestRunAnnouncesAndStops(t *testing.T) {
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	args := []string{"-no-latency", "-seed", "3", "-projects", "2", "-experiments-per-project", "4", "-log-level", "warn"}
	for _, s := range model.Services {
		args = append(args, "-"+s+"-addr", "127.0.0.1:0")
	}
	go func() { done <- run(args, pw, io.Discard); pw.Close() }()
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("no LISTEN line: %v (run: %v)", err, <-done)
	}
	fields := strings.Fields(line)
	if len(fields) != 5 || fields[0] != "LISTEN" {
		t.Fatalf("LISTEN line %q", line)
	}
	addrs := map[string]string{}
	for i, f := range fields[1:] {
		name, addr, _ := strings.Cut(f, "=")
		if name != model.Services[i] || strings.HasSuffix(addr, ":0") {
			t.Fatalf("LISTEN line %q: field %q", line, f)
		}
		addrs[name] = addr
	}
	resp, err := http.Get("http://" + addrs["experiments"] + "/experiments/8")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("experiment 8 of 2 x 4: %d", resp.StatusCode)
	}
	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("run after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
}
