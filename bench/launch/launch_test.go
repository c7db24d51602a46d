package launch

import (
	"context"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	helperOnce sync.Once
	helperBin  string
	helperErr  error
)

// helper builds testdata/helper once per test binary.
func helper(t *testing.T) string {
	t.Helper()
	helperOnce.Do(func() {
		helperBin, helperErr = Build(context.Background(), "./bench/launch/testdata/helper")
	})
	if helperErr != nil {
		t.Fatal(helperErr)
	}
	return helperBin
}

func TestBuildCachesByContent(t *testing.T) {
	bin := helper(t)
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	again, err := Build(context.Background(), "./bench/launch/testdata/helper")
	if err != nil {
		t.Fatal(err)
	}
	if again != bin {
		t.Fatalf("second build of an unchanged tree: got %s, want the cached %s", again, bin)
	}
	st2, err := os.Stat(again)
	if err != nil {
		t.Fatal(err)
	}
	if !st2.ModTime().Equal(st.ModTime()) {
		t.Fatal("second build rewrote the cached binary")
	}
	if !strings.HasPrefix(bin, CacheDir()) {
		t.Fatalf("binary %s not under the cache %s", bin, CacheDir())
	}
}

func TestBuildRejectsLibraryPackage(t *testing.T) {
	_, err := Build(context.Background(), "./bench/launch")
	if err == nil || !strings.Contains(err.Error(), "not a command") {
		t.Fatalf("building a library: got %v, want an error saying it is not a command", err)
	}
}

func TestStartReadsListenLineAndStops(t *testing.T) {
	p, err := Start(context.Background(), helper(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"a", "b"} {
		addr := p.Addr(name)
		if strings.HasSuffix(addr, ":0") || addr == "" {
			t.Fatalf("listener %s: got address %q, want a bound port", name, addr)
		}
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatalf("dial %s at %s: %v", name, addr, err)
		}
		_ = c.Close()
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatalf("graceful stop: %v", err)
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatalf("second stop must repeat the first result, got %v", err)
	}
}

// TestLaterListenLine: a listener announced on a LISTEN line after the
// first, as the gateway's admin listener is, is found by Addr.
func TestLaterListenLine(t *testing.T) {
	p, err := Start(context.Background(), helper(t), []string{"-later", "admin=127.0.0.1:9"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(5 * time.Second)
	if a := p.Addr("admin"); a != "127.0.0.1:9" {
		t.Errorf("Addr(admin) = %q, want 127.0.0.1:9", a)
	}
	if a := p.Addr("nothing"); a != "" {
		t.Errorf("Addr(nothing) = %q, want empty", a)
	}
}

func TestStartFailures(t *testing.T) {
	old := StartTimeout
	StartTimeout = 500 * time.Millisecond
	defer func() { StartTimeout = old }()
	tests := []struct {
		name string
		args []string
		want string // a substring of the error
	}{
		// An early exit is reported with the program's own words.
		{"exits before listening", []string{"-exit", "3"}, "failing on purpose"},
		// A program that never announces itself is not waited for forever.
		{"never listens", []string{"-no-listen"}, "no LISTEN line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Start(context.Background(), helper(t), tc.args, nil)
			if err == nil {
				_ = p.Stop(time.Second)
				t.Fatal("Start succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

// TestStartServing: a program that prints no LISTEN line is up once the
// address it was told accepts connections; one that exits first is an
// error in its own words, and one that never listens is not waited for
// forever.
func TestStartServing(t *testing.T) {
	old := StartTimeout
	StartTimeout = 500 * time.Millisecond
	defer func() { StartTimeout = old }()
	addr, err := FreeAddr()
	if err != nil {
		t.Fatal(err)
	}
	p, err := StartServing(context.Background(), helper(t), []string{"-no-listen", "-a", addr}, nil, "a", addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Addrs["a"] != addr {
		t.Errorf("Addrs = %v, want a=%s", p.Addrs, addr)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Error(err)
	}

	tests := []struct {
		name string
		args []string
		want string // a substring of the error
	}{
		// An early exit is reported with the program's own words.
		{"exits before listening", []string{"-exit", "3"}, "failing on purpose"},
		// A program that listens elsewhere is not waited for forever.
		{"never listens there", []string{"-no-listen"}, "not listening on " + addr},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := StartServing(context.Background(), helper(t), tc.args, nil, "a", addr, nil)
			if err == nil {
				_ = p.Stop(time.Second)
				t.Fatal("StartServing succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not mention %q", err, tc.want)
			}
		})
	}
}

func TestStopKillsAfterGrace(t *testing.T) {
	p, err := Start(context.Background(), helper(t), []string{"-ignore-term"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Stop(200 * time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "killed") {
		t.Fatalf("stop of a program ignoring SIGTERM: got %v, want a 'killed' error", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("process still running after Stop returned")
	}
}

func TestContextEndsProcess(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p, err := Start(ctx, helper(t), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case <-p.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("process still running after its context ended")
	}
	if err := p.Stop(time.Second); err != nil {
		t.Fatalf("stop after a clean exit on SIGTERM: %v", err)
	}
}

func TestCPUTimeAndPeakRSS(t *testing.T) {
	// The helper burns CPU and touches 64 MB before listening, so both
	// figures must reflect that: ordering checks, not exact budgets.
	p, err := Start(context.Background(), helper(t), []string{"-burn", "300ms", "-alloc-mb", "64"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cpu, err := p.CPUTime()
	if err != nil {
		t.Fatal(err)
	}
	if cpu < 100*time.Millisecond {
		t.Errorf("cpu time %v after burning 300ms, want at least 100ms", cpu)
	}
	rss, err := p.PeakRSS()
	if err != nil {
		t.Fatal(err)
	}
	if rss < 32<<20 {
		t.Errorf("peak rss %d bytes after touching 64 MB, want at least 32 MB", rss)
	}
	if cur, err := p.RSS(); err != nil || cur < 32<<20 || cur > rss {
		t.Errorf("current rss %d, %v; want between 32 MB and the peak %d", cur, err, rss)
	}
	if err := p.Stop(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	// After exit the kernel's final accounting answers.
	cpu2, err := p.CPUTime()
	if err != nil || cpu2 < cpu {
		t.Errorf("cpu time after exit: %v, %v; want >= %v", cpu2, err, cpu)
	}
	rss2, err := p.PeakRSS()
	if err != nil || rss2 < 32<<20 {
		t.Errorf("peak rss after exit: %d, %v; want >= 32 MB", rss2, err)
	}
}

func TestParseListen(t *testing.T) {
	tests := []struct {
		line string
		want map[string]string
		ok   bool
	}{
		// The mock backends' line: four named listeners.
		{"LISTEN experiments=127.0.0.1:9101 layers=127.0.0.1:9102 projects=127.0.0.1:9103 results=127.0.0.1:9104",
			map[string]string{"experiments": "127.0.0.1:9101", "layers": "127.0.0.1:9102", "projects": "127.0.0.1:9103", "results": "127.0.0.1:9104"}, true},
		// The gateway's line.
		{"LISTEN gateway=127.0.0.1:8080", map[string]string{"gateway": "127.0.0.1:8080"}, true},
		// No listener named.
		{"LISTEN", nil, false},
		// A pair without '='.
		{"LISTEN gateway", nil, false},
		// The same name twice is ambiguous.
		{"LISTEN a=1:1 a=1:2", nil, false},
		// Not a LISTEN line at all.
		{"LISTENING a=1:1", nil, false},
	}
	for _, tc := range tests {
		got, err := ParseListen(tc.line)
		if (err == nil) != tc.ok {
			t.Errorf("ParseListen(%q) error %v, want ok=%v", tc.line, err, tc.ok)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("ParseListen(%q)[%s] = %q, want %q", tc.line, k, got[k], v)
			}
		}
		if tc.ok && len(got) != len(tc.want) {
			t.Errorf("ParseListen(%q) = %v, want %v", tc.line, got, tc.want)
		}
	}
}

func TestParseProc(t *testing.T) {
	// A command name with spaces and parentheses must not shift the fields.
	stat := "1234 (my (odd) prog) S 1 1234 1234 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 4 0 100 1000000 200 18446744073709551615"
	d, err := parseStat([]byte(stat))
	if err != nil {
		t.Fatal(err)
	}
	if d != 3*time.Second {
		t.Fatalf("parseStat: %v, want 3s (250+50 ticks)", d)
	}
	status := "Name:\tx\nVmPeak:\t  2000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n"
	n, err := parseStatusKB([]byte(status), "VmHWM")
	if err != nil || n != 1536<<10 {
		t.Fatalf("parseStatusKB: %d, %v; want %d", n, err, 1536<<10)
	}
	if _, err := parseStatusKB([]byte("Name: x\n"), "VmHWM"); err == nil {
		t.Fatal("parseStatusKB without the key: want an error")
	}
}
