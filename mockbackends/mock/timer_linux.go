//go:build linux

package mock

import (
	"container/heap"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// Go's timers on Linux wake through epoll_wait, whose timeout counts whole
// milliseconds: when the process is otherwise idle, a sleep of 4.6 ms
// wakes at 4 ms, sleeps again for a rounded-up millisecond, and ends
// up to a millisecond late, depending on the fraction. A mock whose 20 ms
// is 20.7 ms would make every gateway look slower than it is. So the last
// stretch of each delay is timed by a timerfd, armed in nanoseconds and
// read through the same netpoller: its expiry wakes epoll at once, without
// blocking a thread.
type fineTimer struct {
	// bias is how much earlier than its deadline a wait is armed, in ns:
	// the median lateness of a wake-up (timer expiry, netpoller, two
	// goroutine switches). It starts from a measurement and then tracks
	// the median of what the waits deliver, so that it follows the
	// machine's load.
	bias   atomic.Int64
	mu     sync.Mutex
	file   *os.File
	fd     int
	waits  waitHeap
	armed  int64 // deadline the timerfd is armed for; 0 when disarmed
	base   time.Time
	mono0  int64         // CLOCK_MONOTONIC at base, in ns
	done   chan struct{} // closed when the loop has ended
	stop   chan struct{} // closed by close: sleepers return at once
	pool   sync.Pool     // *wait
	timers sync.Pool     // stopped *time.Timer, for the coarse part
	closed bool
}

// handoff is the part of a delay left to the fine timer: long enough to
// cover epoll's millisecond rounding, short enough that few waits queue.
const handoff = 2 * time.Millisecond

type wait struct {
	at int64 // CLOCK_MONOTONIC ns
	ch chan struct{}
}

type waitHeap []*wait

func (h waitHeap) Len() int           { return len(h) }
func (h waitHeap) Less(i, j int) bool { return h[i].at < h[j].at }
func (h waitHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *waitHeap) Push(x any)        { *h = append(*h, x.(*wait)) }
func (h *waitHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return w
}

func newFineTimer() (*fineTimer, error) {
	fd, err := unix.TimerfdCreate(unix.CLOCK_MONOTONIC, unix.TFD_NONBLOCK|unix.TFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("timerfd: %w", err)
	}
	t := &fineTimer{fd: fd, file: os.NewFile(uintptr(fd), "timerfd"), done: make(chan struct{}), stop: make(chan struct{})}
	if err := t.syncClock(); err != nil {
		_ = t.file.Close()
		return nil, err
	}
	t.pool.New = func() any { return &wait{ch: make(chan struct{}, 1)} }
	t.timers.New = func() any {
		tm := time.NewTimer(time.Hour)
		tm.Stop()
		return tm
	}
	go t.loop()
	biasOnce.Do(func() { fineBias = int64(lateness(t.sleepUntil, 9, 500*time.Microsecond)) })
	t.bias.Store(fineBias)
	return t, nil
}

// The wake-up lateness is a property of the machine, measured once per
// process: every service's timer shares it.
var (
	biasOnce sync.Once
	fineBias int64
)

// newSleeper returns the timerfd sleeper, or Go's timers if the kernel
// refuses a timerfd.
func newSleeper() (sleeper, error) {
	t, err := newFineTimer()
	if err != nil {
		return newPlainSleeper(), err
	}
	return t, nil
}

// syncClock pairs a Go time with a CLOCK_MONOTONIC reading. A pair taken
// across a preemption would shift every deadline, so it keeps the pair
// whose two clock readings bracket time.Now() most tightly.
func (t *fineTimer) syncClock() error {
	best := int64(-1)
	for range 20 {
		var a, b unix.Timespec
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &a); err != nil {
			return fmt.Errorf("clock_gettime: %w", err)
		}
		now := time.Now()
		if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &b); err != nil {
			return fmt.Errorf("clock_gettime: %w", err)
		}
		if w := b.Nano() - a.Nano(); best < 0 || w < best {
			best = w
			t.base, t.mono0 = now, a.Nano()+w/2
		}
	}
	return nil
}

// mono converts a time to CLOCK_MONOTONIC ns; Go's monotonic readings use
// the same clock, so differences are exact.
func (t *fineTimer) mono(at time.Time) int64 { return t.mono0 + int64(at.Sub(t.base)) }

// sleepUntil returns at deadline, or when gone receives before the last
// stretch, which is a few milliseconds and not worth a way out of the heap.
func (t *fineTimer) sleepUntil(deadline time.Time, gone <-chan struct{}) bool {
	d := time.Until(deadline)
	if d <= 0 {
		return true
	}
	if d > handoff+time.Millisecond {
		// Go's timers are cheap and scale: they cover all but the last
		// stretch. Close and a client gone interrupt them.
		tm := t.timers.Get().(*time.Timer)
		tm.Reset(d - handoff)
		select {
		case <-tm.C:
		case <-t.stop:
			tm.Stop()
			t.timers.Put(tm)
			return true
		case <-gone:
			tm.Stop()
			t.timers.Put(tm)
			return false
		}
		t.timers.Put(tm)
	}
	w := t.pool.Get().(*wait)
	bias := t.bias.Load()
	target := t.mono(deadline)
	w.at = target - bias
	t.mu.Lock()
	if t.closed {
		t.mu.Unlock()
		t.pool.Put(w)
		return true
	}
	heap.Push(&t.waits, w)
	if t.armed == 0 || w.at < t.armed {
		t.arm(w.at)
	}
	t.mu.Unlock()
	<-w.ch
	t.pool.Put(w)
	// Median tracking by signs: a late wake-up nudges the bias up, an
	// early one down, so half end before the deadline and half after,
	// by the lateness' spread (tens of microseconds).
	if late := t.mono(time.Now()) - target; late > 0 {
		if bias < int64(maxBias) {
			t.bias.Add(biasStep)
		}
	} else if bias > 0 {
		t.bias.Add(-biasStep)
	}
	return true
}

// biasStep is how far one wait moves the bias: small against the
// lateness' spread, large enough to follow a change of load within a few
// hundred requests.
const biasStep = int64(time.Microsecond)

// arm sets the timerfd to fire at the absolute time at. Called with mu held.
func (t *fineTimer) arm(at int64) {
	t.armed = at
	spec := unix.ItimerSpec{Value: unix.NsecToTimespec(max(at, 1))}
	_ = unix.TimerfdSettime(t.fd, unix.TFD_TIMER_ABSTIME, &spec, nil)
}

func (t *fineTimer) loop() {
	defer close(t.done)
	buf := make([]byte, 8)
	for {
		if _, err := t.file.Read(buf); err != nil {
			if errors.Is(err, os.ErrClosed) {
				return
			}
			if !errors.Is(err, unix.EAGAIN) {
				return
			}
		}
		var ts unix.Timespec
		_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
		now := ts.Nano()
		t.mu.Lock()
		for len(t.waits) > 0 && t.waits[0].at <= now {
			w := heap.Pop(&t.waits).(*wait)
			w.ch <- struct{}{}
		}
		if len(t.waits) > 0 {
			t.arm(t.waits[0].at)
		} else {
			t.armed = 0
		}
		t.mu.Unlock()
	}
}

// close wakes every waiter and stops the loop.
func (t *fineTimer) close() {
	t.mu.Lock()
	t.closed = true
	close(t.stop)
	for len(t.waits) > 0 {
		heap.Pop(&t.waits).(*wait).ch <- struct{}{}
	}
	t.mu.Unlock()
	_ = t.file.Close()
	<-t.done
}
