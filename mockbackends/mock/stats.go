package mock

import (
	"sync/atomic"

	"fanout/mockbackends/model"
)

// Stats are one service's counters since start or the last reset.
// Gauges (InFlight, Queued) are never reset.
type Stats struct {
	Service string `json:"service"`
	Counts
	// Unrouted counts requests that matched no route (404, 405).
	Unrouted int64 `json:"unrouted"`
	// Routes holds the counts of each route of the service, by route name.
	Routes map[string]Counts `json:"routes"`
}

// Counts are the counters of a service or of one route.
type Counts struct {
	Requests     int64  `json:"requests"`       // received
	Served       int64  `json:"served"`         // finished, whatever the outcome (a hang finishes when the connection closes)
	InFlight     int64  `json:"in_flight"`      // being served now (holding a worker, when max_in_flight caps them)
	Queued       int64  `json:"queued"`         // waiting for a worker now
	PeakInFlight int64  `json:"peak_in_flight"` // highest InFlight seen
	Errors       Errors `json:"errors"`
}

// Errors count the requests that did not get a normal answer, by kind.
type Errors struct {
	Error      int64 `json:"error"`       // injected 500
	Hang       int64 `json:"hang"`        // injected hang
	Reset      int64 `json:"reset"`       // injected connection reset
	Malformed  int64 `json:"malformed"`   // injected invalid JSON
	Nested     int64 `json:"nested"`      // injected body of deeply nested arrays
	Stray      int64 `json:"stray"`       // injected stray answer after the normal one
	Rejected   int64 `json:"rejected"`    // 503: queue full, or the server closing
	NotFound   int64 `json:"not_found"`   // 404 for an unknown id
	BadRequest int64 `json:"bad_request"` // 400 for invalid parameters or body, 422 for a broken business rule
	Cancelled  int64 `json:"cancelled"`   // the client went away during the latency: no answer
}

// Error kinds, indexes of counters.errs.
const (
	errError = iota
	errHang
	errReset
	errMalformed
	errNested
	errStray
	errRejected
	errNotFound
	errBadRequest
	errCancelled
	numErrKinds
)

// counters are the live, lock-free counters behind Counts. The padding
// keeps two routes' hot counters off one cache line.
type counters struct {
	requests, served, inFlight, queued, peak atomic.Int64
	errs                                     [numErrKinds]atomic.Int64
	_                                        [64]byte
}

func (c *counters) enter() {
	n := c.inFlight.Add(1)
	for {
		p := c.peak.Load()
		if n <= p || c.peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (c *counters) leave() {
	c.inFlight.Add(-1)
	c.served.Add(1)
}

func (c *counters) snapshot() Counts {
	return Counts{
		Requests:     c.requests.Load(),
		Served:       c.served.Load(),
		InFlight:     c.inFlight.Load(),
		Queued:       c.queued.Load(),
		PeakInFlight: c.peak.Load(),
		Errors: Errors{
			Error:      c.errs[errError].Load(),
			Hang:       c.errs[errHang].Load(),
			Reset:      c.errs[errReset].Load(),
			Malformed:  c.errs[errMalformed].Load(),
			Nested:     c.errs[errNested].Load(),
			Stray:      c.errs[errStray].Load(),
			Rejected:   c.errs[errRejected].Load(),
			NotFound:   c.errs[errNotFound].Load(),
			BadRequest: c.errs[errBadRequest].Load(),
			Cancelled:  c.errs[errCancelled].Load(),
		},
	}
}

func (c *counters) reset() {
	c.requests.Store(0)
	c.served.Store(0)
	c.peak.Store(c.inFlight.Load())
	for i := range c.errs {
		c.errs[i].Store(0)
	}
}

// serviceStats holds a service's counters and each route's.
type serviceStats struct {
	total    counters
	unrouted atomic.Int64
	routes   []counters // index: position in routeNames
}

func (s *serviceStats) snapshot(service string, routeNames []string) Stats {
	st := Stats{Service: service, Counts: s.total.snapshot(), Unrouted: s.unrouted.Load(), Routes: make(map[string]Counts, len(routeNames))}
	for i, name := range routeNames {
		st.Routes[name] = s.routes[i].snapshot()
	}
	return st
}

func (s *serviceStats) reset() {
	s.total.reset()
	s.unrouted.Store(0)
	for i := range s.routes {
		s.routes[i].reset()
	}
}

// faultErr maps a fault kind to its counter.
func faultErr(kind string) int {
	switch kind {
	case model.FaultError:
		return errError
	case model.FaultHang:
		return errHang
	case model.FaultReset:
		return errReset
	case model.FaultNested:
		return errNested
	case model.FaultStray:
		return errStray
	}
	return errMalformed
}
