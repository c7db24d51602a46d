package launch

import (
	"context"
	"os"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestPlanSplit(t *testing.T) {
	for _, tc := range []struct {
		name          string
		cpus          []int
		gateway, load []int
		note          string // a part of the note, for a machine not split
	}{
		// One CPU cannot give the gateway one of its own: the note says so.
		{name: "1 CPU", cpus: []int{0}, note: "too small to split"},
		// Two CPUs: one each, the gateway on the upper one.
		{name: "2 CPUs", cpus: []int{0, 1}, gateway: []int{1}, load: []int{0}},
		// Three: the odd CPU goes to the load side, which runs two kinds of
		// process.
		{name: "3 CPUs", cpus: []int{0, 1, 2}, gateway: []int{2}, load: []int{0, 1}},
		// From four on, half each.
		{name: "4 CPUs", cpus: []int{0, 1, 2, 3}, gateway: []int{2, 3}, load: []int{0, 1}},
		{name: "8 CPUs", cpus: []int{0, 1, 2, 3, 4, 5, 6, 7}, gateway: []int{4, 5, 6, 7}, load: []int{0, 1, 2, 3}},
		// The CPUs the bench may use need not be contiguous (taskset, a
		// container's cpuset): the split takes them as they are.
		{name: "a cpuset", cpus: []int{2, 3, 5, 7}, gateway: []int{5, 7}, load: []int{2, 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := PlanSplit(tc.cpus)
			if !slices.Equal(s.Gateway, tc.gateway) || !slices.Equal(s.Load, tc.load) {
				t.Errorf("gateway %v, load %v; want %v, %v", s.Gateway, s.Load, tc.gateway, tc.load)
			}
			if s.On() != (tc.gateway != nil) {
				t.Errorf("On() = %v", s.On())
			}
			if s.On() && (s.GatewayProcs != len(tc.gateway) || s.LoadProcs != len(tc.load)) {
				t.Errorf("GOMAXPROCS %d and %d, want %d and %d", s.GatewayProcs, s.LoadProcs, len(tc.gateway), len(tc.load))
			}
			if !strings.Contains(s.Note, tc.note) || (tc.note == "") != (s.Note == "") {
				t.Errorf("note %q, want one with %q", s.Note, tc.note)
			}
			if !strings.Contains(s.Describe(), "gateway") {
				t.Errorf("Describe() = %q says nothing of the gateway", s.Describe())
			}
		})
	}
	if s := Unsplit([]int{0, 1}, "-split off"); s.On() || !strings.Contains(s.Note, "-split off") {
		t.Errorf("Unsplit: %+v", s)
	}
}

// twoCPUs returns the CPUs of this process, failing a test that needs two
// to pin anything apart.
func twoCPUs(t *testing.T) []int {
	t.Helper()
	cpus, err := AvailableCPUs()
	if err != nil {
		t.Fatal(err)
	}
	if len(cpus) < 2 {
		t.Skipf("one CPU (%v): nothing to pin apart", cpus)
	}
	return cpus
}

// allOn fails unless every thread of pid (0: this process) runs on cpus.
func allOn(t *testing.T, pid int, cpus []int, when string) {
	t.Helper()
	threads, err := ThreadCPUs(pid)
	if err != nil {
		t.Fatal(err)
	}
	for tid, got := range threads {
		if !slices.Equal(got, cpus) {
			t.Errorf("%s: thread %d of %d threads runs on %v, want %v", when, tid, len(threads), got, cpus)
		}
	}
}

func TestPinProcessPinsEveryThread(t *testing.T) {
	cpus := twoCPUs(t)
	procs := runtime.GOMAXPROCS(0)
	restore, err := PinProcess(cpus[:1])
	if err != nil {
		t.Fatal(err)
	}
	allOn(t, 0, cpus[:1], "pinned")
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Errorf("GOMAXPROCS %d while pinned to one CPU", got)
	}
	// Threads started after the pinning inherit it: goroutines locked to
	// threads of their own make the runtime start more.
	var wg sync.WaitGroup
	hold := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			<-hold
		})
	}
	allOn(t, 0, cpus[:1], "pinned, with new threads")
	close(hold)
	wg.Wait()
	if err := restore(); err != nil {
		t.Fatal(err)
	}
	allOn(t, 0, cpus, "restored")
	if got := runtime.GOMAXPROCS(0); got != procs {
		t.Errorf("GOMAXPROCS %d after restore, want %d", got, procs)
	}
}

func TestGatewayStartsOnItsCPUs(t *testing.T) {
	cpus := twoCPUs(t)
	own := cpus[len(cpus)-1:]
	p, err := startListening(context.Background(), helper(t), nil, []string{"GOMAXPROCS=1"}, own, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(DefaultGrace)
	allOn(t, p.Pid(), own, "child")
	// The thread that forked the child took the child's CPUs: it ends
	// with its goroutine, which the runtime does just after the start
	// returns, and none of this process's threads may keep them.
	deadline := time.Now().Add(5 * time.Second)
	for !onlyOn(t, cpus) && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	allOn(t, 0, cpus, "bench after the start")
}

// onlyOn reports whether every thread of this process runs on cpus.
func onlyOn(t *testing.T, cpus []int) bool {
	threads, err := ThreadCPUs(0)
	if err != nil {
		t.Fatal(err)
	}
	for _, got := range threads {
		if !slices.Equal(got, cpus) {
			return false
		}
	}
	return true
}

func TestReadWaitSeesThreadsQueueForACPU(t *testing.T) {
	cpus := twoCPUs(t)
	restore, err := PinProcess(cpus[:1])
	if err != nil {
		t.Fatal(err)
	}
	defer restore()
	// Four threads busy on one CPU: three of them wait at any moment.
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	w0, err := ReadWait(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	const busy = 300 * time.Millisecond
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			for end := time.Now().Add(busy); time.Now().Before(end); {
			}
		})
	}
	wg.Wait()
	w1, err := ReadWait(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if w1-w0 < busy {
		t.Errorf("waited %v for a CPU while four threads spun %v on one: want at least %v", w1-w0, busy, busy)
	}
}
