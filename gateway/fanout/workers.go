package fanout

import (
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// The engine's goroutines are kept for reuse. A call that runReady
// launches apart from its own goroutine goes to an idle worker if one
// waits, and to a new goroutine otherwise; a worker that has run its call,
// and the calls that call made ready, waits for the next one. A goroutine
// started afresh for every call costs its start, its exit, and the growth
// of its stack to what a call through the policies, the backend client
// and fasthttp needs (see growStack): at a few calls per request, more
// than the engine's own work on the call. Reuse took 2.5 % off the CPU per
// results page of the gateway with every policy off.
//
// A worker idle through a whole sweep period (workerIdle to twice that)
// ends, so a burst leaves its goroutines behind for seconds, not for good,
// as fasthttp's server does with its own.
const workerIdle = 5 * time.Second

// A worker is an engine goroutine between two calls.
type worker struct {
	jobs  chan job
	epoch uint64 // the sweep period in which it last went idle
}

// job is a call for a worker: call i of r, prepared with path. The zero
// job ends the worker.
type job struct {
	r    *run
	i    int
	path string
}

// workers are the idle workers, in the order they went idle (the last
// one, whose stack is likeliest to be in the caches, is taken first); the
// sweep period; and whether the sweep that ends long-idle workers runs.
// A worker goes idle without reading the clock: the sweep counts periods.
var workers struct {
	mu       sync.Mutex
	idle     []*worker
	epoch    uint64
	sweeping bool
	started  atomic.Int64 // workers started, for tests
}

// launch runs call i of r, prepared with path, through passAndRunReady on
// another goroutine: an idle worker, or a new one.
func launch(r *run, i int, path string) {
	workers.mu.Lock()
	if n := len(workers.idle); n > 0 {
		w := workers.idle[n-1]
		workers.idle[n-1] = nil
		workers.idle = workers.idle[:n-1]
		workers.mu.Unlock()
		w.jobs <- job{r, i, path} // buffered: the worker waits for it, or is about to
		return
	}
	workers.mu.Unlock()
	workers.started.Add(1)
	go work(job{r, i, path})
}

// work runs j, then each job it is handed while idle, until a sweep ends
// it. Its stack is grown for its first call, and again only if it moved
// since: the garbage collector halves the stack of a goroutine that uses
// little of it, as an idle worker does, and a stack that shrinks or grows
// is copied elsewhere, which moves the address of a local variable.
func work(j job) {
	var anchor byte
	at := uintptr(0)
	w := &worker{jobs: make(chan job, 1)}
	for j.r != nil {
		if uintptr(unsafe.Pointer(&anchor)) != at {
			growStack()
			at = uintptr(unsafe.Pointer(&anchor))
		}
		j.r.passAndRunReady(j.i, j.path)
		workers.mu.Lock()
		w.epoch = workers.epoch
		workers.idle = append(workers.idle, w)
		if !workers.sweeping {
			workers.sweeping = true
			go sweep()
		}
		workers.mu.Unlock()
		j = <-w.jobs
	}
}

// sweep ends, every workerIdle, the workers that have been idle since
// before the last sweep, and ends itself once no worker is idle.
func sweep() {
	for {
		time.Sleep(workerIdle)
		if sweepOnce() == 0 {
			return
		}
	}
}

// sweepOnce starts a new sweep period, ends the workers idle since before
// the last one, and returns how many are left idle; with none left, the
// sweep is over.
func sweepOnce() int {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	workers.epoch++
	// The longest idle come first: end a prefix.
	n := 0
	for n < len(workers.idle) && workers.idle[n].epoch+1 < workers.epoch {
		workers.idle[n].jobs <- job{}
		n++
	}
	kept := copy(workers.idle, workers.idle[n:])
	clear(workers.idle[kept:])
	workers.idle = workers.idle[:kept]
	if kept == 0 {
		workers.sweeping = false
	}
	return kept
}

// idleWorkers is how many goroutines the reuse keeps while no call runs:
// the idle workers and the sweep. Tests that count goroutines discount
// them.
func idleWorkers() int {
	workers.mu.Lock()
	defer workers.mu.Unlock()
	n := len(workers.idle)
	if workers.sweeping {
		n++
	}
	return n
}
