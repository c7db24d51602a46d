package launch

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"

	"golang.org/x/sys/unix"
)

// AvailableCPUs returns the CPUs this process may run on (its affinity),
// in ascending order.
func AvailableCPUs() ([]int, error) {
	var set unix.CPUSet
	if err := unix.SchedGetaffinity(0, &set); err != nil {
		return nil, fmt.Errorf("read CPU affinity: %w", err)
	}
	return cpusOf(&set), nil
}

func cpusOf(set *unix.CPUSet) []int {
	var cpus []int
	for c := 0; c < len(set)*64; c++ {
		if set.IsSet(c) {
			cpus = append(cpus, c)
		}
	}
	return cpus
}

func cpuSet(cpus []int) *unix.CPUSet {
	var set unix.CPUSet
	for _, c := range cpus {
		set.Set(c)
	}
	return &set
}

// PinProcess runs every thread of this process on cpus, with GOMAXPROCS
// set to their number, and returns a func that puts back the affinity and
// GOMAXPROCS it found.
//
// On Linux sched_setaffinity applies to one thread, and the Go runtime has
// started its threads long before: each thread listed in /proc/self/task is
// pinned in turn. A thread started meanwhile inherits the mask of the
// thread that started it, which may not have been pinned yet, so the pass
// is repeated until one finds every thread pinned.
func PinProcess(cpus []int) (restore func() error, err error) {
	var old unix.CPUSet
	if err := unix.SchedGetaffinity(0, &old); err != nil {
		return nil, fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	if err := pinThreads(cpuSet(cpus)); err != nil {
		return nil, fmt.Errorf("pin to CPUs %v: %w", cpus, err)
	}
	procs := runtime.GOMAXPROCS(len(cpus))
	return func() error {
		err := pinThreads(&old)
		// Setting GOMAXPROCS stops the runtime from following the CPUs
		// it may use; where nobody set it, it goes back to doing so,
		// from the affinity just restored.
		if os.Getenv("GOMAXPROCS") == "" {
			runtime.SetDefaultGOMAXPROCS()
		} else {
			runtime.GOMAXPROCS(procs)
		}
		if err != nil {
			return fmt.Errorf("restore CPU affinity: %w", err)
		}
		return nil
	}, nil
}

// pinPasses bounds the passes of pinThreads: the runtime starts threads
// rarely, and a few passes find them all.
const pinPasses = 10

// pinThreads sets the affinity of every thread of this process to set.
func pinThreads(set *unix.CPUSet) error {
	for range pinPasses {
		threads, err := affinities(0)
		if err != nil {
			return err
		}
		changed := false
		for tid, cur := range threads {
			if cur == *set {
				continue
			}
			changed = true
			if err := unix.SchedSetaffinity(tid, set); err != nil && !errors.Is(err, unix.ESRCH) {
				return fmt.Errorf("thread %d: %w", tid, err)
			}
		}
		if !changed {
			return nil
		}
	}
	return fmt.Errorf("threads kept starting unpinned after %d passes", pinPasses)
}

// affinities returns the affinity of every thread of process pid (0: this
// process), by thread id; a thread that ends meanwhile is left out.
func affinities(pid int) (map[int]unix.CPUSet, error) {
	dir := "/proc/self/task"
	if pid > 0 {
		dir = "/proc/" + strconv.Itoa(pid) + "/task"
	}
	tasks, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read threads: %w", err)
	}
	out := map[int]unix.CPUSet{}
	for _, t := range tasks {
		tid, err := strconv.Atoi(t.Name())
		if err != nil {
			continue
		}
		var set unix.CPUSet
		if err := unix.SchedGetaffinity(tid, &set); err != nil {
			if errors.Is(err, unix.ESRCH) {
				continue
			}
			return nil, fmt.Errorf("read affinity of thread %d: %w", tid, err)
		}
		out[tid] = set
	}
	return out, nil
}

// ThreadCPUs returns the CPUs of every thread of process pid (0: this
// process), by thread id, for tests and for checking a split.
func ThreadCPUs(pid int) (map[int][]int, error) {
	threads, err := affinities(pid)
	if err != nil {
		return nil, err
	}
	out := make(map[int][]int, len(threads))
	for tid, set := range threads {
		out[tid] = cpusOf(&set)
	}
	return out, nil
}

// startOn starts cmd on cpus (all of this process's, if empty). A child
// inherits the CPU mask of the thread that forks it, so the fork happens on
// a thread locked to this goroutine and pinned to cpus for the fork only.
// The thread then gets its own mask back and lives on: it must, since the
// kernel sends the child its parent-death signal (setParentDeathSignal)
// when the thread that forked it ends, not the process. The runtime never
// starts new threads from a locked one, so the child's mask spreads no
// further.
func startOn(cmd *exec.Cmd, cpus []int) error {
	if len(cpus) == 0 {
		return cmd.Start()
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		// An early return leaves the thread locked: the runtime ends it
		// with the goroutine, and no child has been forked from it yet.
		var own unix.CPUSet
		if err := unix.SchedGetaffinity(0, &own); err != nil {
			errc <- fmt.Errorf("read CPU affinity: %w", err)
			return
		}
		if err := unix.SchedSetaffinity(0, cpuSet(cpus)); err != nil {
			errc <- fmt.Errorf("pin to CPUs %v: %w", cpus, err)
			return
		}
		err := cmd.Start()
		if rerr := unix.SchedSetaffinity(0, &own); rerr != nil {
			// The thread must end, holding the child's CPUs, and the
			// child with it: stop and reap it here.
			if err == nil {
				_ = cmd.Process.Kill()
				_ = cmd.Wait()
			}
			errc <- fmt.Errorf("restore CPU affinity after a start: %w", rerr)
			return
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return <-errc
}
