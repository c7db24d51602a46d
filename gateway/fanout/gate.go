package fanout

import (
	"context"
	"sync"
	"time"
)

// A gate is what a call of the graph runner passes through between being
// ready and entering its Doer: the policy of a mode that limits how many calls
// run at once. The runner times enter as the call's Outcome.Wait. A gate is
// shared by every request its Executor serves, so implementations must be
// safe for concurrent use, and should not allocate: they are on every call's
// path.
type gate interface {
	// enter waits for the call's turn, or returns why the call must not be
	// sent: ctx's error if ctx ended first, or ErrClosed. A gate may ignore
	// ctx (that is the blocking mode's pitfall); the runner checks it again
	// before the Doer.
	enter(ctx context.Context) error
	// leave ends the turn that a successful enter granted.
	leave()
}

// slots is the pool mode's gate: at most N calls hold a slot at once, and
// the others wait for one in the order they came. A call whose ctx ends while
// it waits (its deadline, or its run aborted) is withdrawn and frees nothing.
//
// A waiting call holds no goroutine: the graph runner queues it, as a
// (run, call) item under mu, and the goroutine that leaves a slot takes the
// head of the queue and runs it itself (see serve). Goroutines are thus
// bounded by the number of slots, however many calls wait. The waiting
// call's own Execute withdraws it when its ctx ends (see run.wait); mu makes
// the withdrawal and the handoff exclusive, so a call runs or is withdrawn,
// never both. enter and leave, the gate interface, serve callers that block.
type slots struct {
	mu     sync.Mutex
	free   int      // slots nobody holds
	queue  []queued // waiting calls, first come first; queue[head:] is live
	head   int
	closed bool
}

// queued is a call waiting for a slot: call i of run r, with its path, since
// t0. A caller blocked in enter has r nil and is woken on wake instead.
type queued struct {
	r    *run
	i    int
	path string
	t0   time.Time
	wake chan struct{}
}

func newSlots(n int) *slots { return &slots{free: n} }

// take gives call i of r a slot if one is free and nobody waits, or queues
// it. It refuses the call, with why, if the slots are closed or r.stopped(i):
// checked under mu, that makes a call queued after its Execute withdrew the
// run's calls impossible.
func (s *slots) take(r *run, i int, path string) (granted bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false, ErrClosed
	}
	if err := r.stopped(i); err != nil {
		return false, err
	}
	if s.free > 0 && s.head == len(s.queue) {
		s.free--
		return true, nil
	}
	s.push(queued{r: r, i: i, path: path, t0: time.Now()})
	if !r.queued {
		r.queued = true
		r.done <- -1 // never blocks: done has room for it
	}
	return false, nil
}

// push appends q to the queue, moving the live part to the front of the
// array first when the array is full, so the queue reuses it.
func (s *slots) push(q queued) {
	if s.head > 0 && len(s.queue) == cap(s.queue) {
		n := copy(s.queue, s.queue[s.head:])
		clear(s.queue[n:])
		s.queue, s.head = s.queue[:n], 0
	}
	s.queue = append(s.queue, q)
}

// handoff leaves a slot: it hands it to the call at the head of the queue,
// which the caller must then run, or frees it if none waits. A blocked enter
// at the head is woken instead, and handoff reports no call to run.
func (s *slots) handoff() (queued, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.head == len(s.queue) {
		s.free++
		return queued{}, false
	}
	q := s.queue[s.head]
	s.queue[s.head] = queued{}
	s.head++
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	}
	if q.wake != nil {
		close(q.wake)
		return queued{}, false
	}
	return q, true
}

// withdraw removes from the queue the calls of r that may no longer start
// (r.stopped) and appends their items to dst. The caller finishes them.
func (s *slots) withdraw(r *run, dst []queued) []queued {
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.queue[:s.head]
	for _, q := range s.queue[s.head:] {
		if q.r == r && r.stopped(q.i) != nil {
			dst = append(dst, q)
			continue
		}
		live = append(live, q)
	}
	clear(s.queue[len(live):])
	s.queue = live
	if s.head == len(s.queue) {
		s.queue, s.head = s.queue[:0], 0
	}
	return dst
}

// enter waits for a slot in the queue, blocking the caller, or returns
// ctx's error if ctx ends first, or ErrClosed.
func (s *slots) enter(ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if s.free > 0 && s.head == len(s.queue) {
		s.free--
		s.mu.Unlock()
		return nil
	}
	wake := make(chan struct{})
	s.push(queued{wake: wake})
	s.mu.Unlock()
	select {
	case <-wake:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for k := s.head; k < len(s.queue); k++ {
		if s.queue[k].wake == wake {
			copy(s.queue[k:], s.queue[k+1:])
			s.queue[len(s.queue)-1] = queued{}
			s.queue = s.queue[:len(s.queue)-1]
			return ctx.Err()
		}
	}
	return nil // handed a slot as ctx ended: the caller holds it
}

// leave ends the turn of a caller of enter. A queued call of a run that the
// slot is handed to runs in a goroutine of its own.
func (s *slots) leave() {
	if q, ok := s.handoff(); ok {
		go serve(q)
	}
}

// close turns away the calls that come afterwards with ErrClosed. Calls
// already queued still get their slot.
func (s *slots) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
}

// lock is the blocking mode's gate, the classic pitfall: every backend call
// is made while holding one lock shared by every request the Executor serves,
// as a blocking call inside an event loop stalls every task. One slow call
// stalls everyone; Outcome.Wait shows the time spent waiting for the lock.
//
// The lock belongs to the Executor, and the gateway holds one Executor per
// process, so it is process-wide there while tests stay independent.
type lock struct{ mu sync.Mutex }

// enter waits for the lock whatever ctx says, as a blocked event loop would:
// a waiting call cannot be withdrawn. The runner does not send a call that
// gets the lock after ctx is done, or after a required call of its run
// failed.
func (l *lock) enter(context.Context) error {
	l.mu.Lock()
	return nil
}

func (l *lock) leave() { l.mu.Unlock() }
