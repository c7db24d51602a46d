package mock

import (
	"slices"
	"time"
)

// A sleeper ends a request's delay at its deadline, as precisely as the
// platform allows, or earlier when gone receives (the client went away);
// it reports whether it waited the whole delay. A nil gone never receives.
// Implementations are safe for concurrent use.
type sleeper interface {
	sleepUntil(deadline time.Time, gone <-chan struct{}) bool
	close()
}

// maxBias caps the lateness correction, so that a calibration on a loaded
// machine cannot make every delay much too short.
const maxBias = 250 * time.Microsecond

// lateness measures how late n sleeps of d end, and returns the median
// (clamped to 0..maxBias): the bias a sleeper subtracts so that the median
// delay lands on the model.
func lateness(sleep func(time.Time, <-chan struct{}) bool, n int, d time.Duration) time.Duration {
	late := make([]time.Duration, n)
	for i := range late {
		start := time.Now()
		sleep(start.Add(d), nil)
		late[i] = time.Since(start) - d
	}
	slices.Sort(late)
	return min(max(late[n/2], 0), maxBias)
}

// plainSleeper uses Go's timers, less a measured bias.
type plainSleeper struct{ bias time.Duration }

func newPlainSleeper() *plainSleeper {
	p := &plainSleeper{}
	p.bias = lateness(p.sleepUntil, 9, time.Millisecond)
	return p
}

func (p *plainSleeper) sleepUntil(deadline time.Time, gone <-chan struct{}) bool {
	d := time.Until(deadline) - p.bias
	switch {
	case d <= 0:
		return true
	case gone == nil:
		time.Sleep(d)
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-gone:
		return false
	}
}

func (p *plainSleeper) close() {}
