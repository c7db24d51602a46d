// Package model is the schema of the mock backends' behaviour: latency
// models, fault probabilities and capacity, per service and per route.
//
// The same schema is read from a mock backends config file, from the
// backends section of a bench scenario file (both YAML with a top-level
// "backends:" key) and from the admin API (JSON of one Service). Decoding is
// strict, with package strictyaml: unknown fields, unknown services and
// routes, negative durations, probabilities outside 0..1 are errors that
// name the file, the line, the field path and the reason, all of them at
// once. DecodeConfig and DecodeServiceFor let a bench scenario decode its
// models in the same walk as the rest of its file.
package model

import (
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"time"
)

// Config maps a service name (one of Services) to its model. A service that
// is absent behaves as in Default().
type Config map[string]Service

// Service is the model of one backend service.
type Service struct {
	// Latency is the default model of every route. Nil means the built-in
	// default of the service (see Default).
	Latency *Latency `yaml:"latency,omitempty" json:"latency,omitempty"`
	// Faults are the default fault probabilities of every route. Nil means
	// no faults.
	Faults *Faults `yaml:"faults,omitempty" json:"faults,omitempty"`
	// MaxInFlight caps the requests served at once: a backend with N
	// workers, where excess requests wait. 0 means no cap.
	MaxInFlight int `yaml:"max_in_flight,omitempty" json:"max_in_flight,omitempty"`
	// QueueLimit, with MaxInFlight, bounds the waiting requests: one more
	// gets 503. 0 means unbounded.
	QueueLimit int `yaml:"queue_limit,omitempty" json:"queue_limit,omitempty"`
	// Routes overrides the latency and/or faults of single routes.
	Routes map[string]Route `yaml:"routes,omitempty" json:"routes,omitempty"`
}

// Route overrides the service's model for one route. A nil field keeps the
// service's setting.
type Route struct {
	Latency *Latency `yaml:"latency,omitempty" json:"latency,omitempty"`
	Faults  *Faults  `yaml:"faults,omitempty" json:"faults,omitempty"`
}

// Faults are the probabilities (each 0..1, sum at most 1) that a request
// fails in one of six ways instead of being answered:
//
//   - Error: 500 with a JSON error body, after the latency;
//   - Hang: no answer until the client gives up or the server closes;
//   - Reset: the connection is closed in the middle of the response;
//   - Malformed: 200 with a body that is not valid JSON;
//   - Nested: 200 with a body of NestedSize bytes of nested JSON arrays
//     ("[[[...]]]"), valid JSON whose depth is half its size, the body
//     that exhausts a recursive parser;
//   - Stray: the normal answer, then, StrayDelay later, a second
//     unsolicited answer on the same connection, which is closed after it:
//     a client that reuses the connection meanwhile reads the stray answer
//     as the answer to its next request.
type Faults struct {
	Error     float64 `yaml:"error,omitempty" json:"error,omitempty"`
	Hang      float64 `yaml:"hang,omitempty" json:"hang,omitempty"`
	Reset     float64 `yaml:"reset,omitempty" json:"reset,omitempty"`
	Malformed float64 `yaml:"malformed,omitempty" json:"malformed,omitempty"`
	Nested    float64 `yaml:"nested,omitempty" json:"nested,omitempty"`
	Stray     float64 `yaml:"stray,omitempty" json:"stray,omitempty"`
	// NestedSize is the size in bytes of a nested body, 2 to
	// MaxNestedSize; 0 means DefaultNestedSize.
	NestedSize int `yaml:"nested_size,omitempty" json:"nested_size,omitempty"`
}

// The bounds of Faults.NestedSize, and the delay of a stray answer.
const (
	// DefaultNestedSize is 4 MiB: two million levels of arrays.
	DefaultNestedSize = 4 << 20
	// MaxNestedSize bounds what one nested body costs the mock's memory.
	MaxNestedSize = 64 << 20
	// StrayDelay is how long after the normal answer a stray one is sent:
	// long enough for a client to have put the connection back in its pool
	// and, under load, reused it.
	StrayDelay = 20 * time.Millisecond
)

// NestedBytes returns the size of a nested body: NestedSize, or
// DefaultNestedSize when it is 0.
func (f Faults) NestedBytes() int {
	if f.NestedSize == 0 {
		return DefaultNestedSize
	}
	return f.NestedSize
}

// Fault kinds, as Faults.Pick returns them.
const (
	FaultNone      = ""
	FaultError     = "error"
	FaultHang      = "hang"
	FaultReset     = "reset"
	FaultMalformed = "malformed"
	FaultNested    = "nested"
	FaultStray     = "stray"
)

// Total is the probability that some fault happens.
func (f Faults) Total() float64 {
	return f.Error + f.Hang + f.Reset + f.Malformed + f.Nested + f.Stray
}

// Pick maps u, uniform in [0,1), to the fault it selects (FaultNone for
// most u when the probabilities are small).
func (f Faults) Pick(u float64) string {
	switch {
	case u < f.Error:
		return FaultError
	case u < f.Error+f.Hang:
		return FaultHang
	case u < f.Error+f.Hang+f.Reset:
		return FaultReset
	case u < f.Error+f.Hang+f.Reset+f.Malformed:
		return FaultMalformed
	case u < f.Error+f.Hang+f.Reset+f.Malformed+f.Nested:
		return FaultNested
	case u < f.Total():
		return FaultStray
	}
	return FaultNone
}

// Validate checks that every probability is in 0..1, that they sum to at
// most 1 and that NestedSize is 0 or 2 to MaxNestedSize. Errors are
// *FieldError with the field name as Path.
func (f Faults) Validate() error {
	for _, p := range []struct {
		name string
		v    float64
	}{{FaultError, f.Error}, {FaultHang, f.Hang}, {FaultReset, f.Reset}, {FaultMalformed, f.Malformed}, {FaultNested, f.Nested}, {FaultStray, f.Stray}} {
		if math.IsNaN(p.v) || p.v < 0 || p.v > 1 {
			return &FieldError{Path: p.name, Reason: fmt.Sprintf("probability %v is outside 0..1", p.v)}
		}
	}
	if t := f.Total(); t > 1+1e-9 {
		return &FieldError{Reason: fmt.Sprintf("fault probabilities sum to %v, more than 1", t)}
	}
	if reason := checkNestedSize(f.NestedSize); reason != "" {
		return &FieldError{Path: "nested_size", Reason: reason}
	}
	return nil
}

// checkNestedSize says why n is not a nested body's size, or "".
func checkNestedSize(n int) string {
	if n != 0 && (n < 2 || n > MaxNestedSize) {
		return fmt.Sprintf("%d bytes is outside 2..%d (0: the default, %d)", n, MaxNestedSize, DefaultNestedSize)
	}
	return ""
}

// Default returns the built-in models: fixed latencies of 20 ms
// (experiments), 15 ms (layers), 10 ms (projects) and 40 ms (results), no
// faults, no capacity cap. Each call returns a fresh Config.
func Default() Config {
	l := func(d time.Duration) *Latency { v := Fixed(d); return &v }
	return Config{
		ServiceExperiments: {Latency: l(20 * time.Millisecond)},
		ServiceLayers:      {Latency: l(15 * time.Millisecond)},
		ServiceProjects:    {Latency: l(10 * time.Millisecond)},
		ServiceResults:     {Latency: l(40 * time.Millisecond)},
	}
}

// DefaultLatency returns the built-in latency of service (none for an
// unknown service).
func DefaultLatency(service string) Latency {
	if s, ok := Default()[service]; ok && s.Latency != nil {
		return *s.Latency
	}
	return None()
}

// RouteLatency returns the effective latency model of a route: the route's
// override, else the service's default, else the built-in default.
func (c Config) RouteLatency(service, route string) Latency {
	return c[service].RouteLatency(service, route)
}

// RouteFaults returns the effective faults of a route: the route's
// override, else the service's faults, else none.
func (c Config) RouteFaults(service, route string) Faults {
	return c[service].RouteFaults(route)
}

// RouteLatency returns the effective latency of route within s, which is
// the model of service (needed for the built-in default).
func (s Service) RouteLatency(service, route string) Latency {
	if r, ok := s.Routes[route]; ok && r.Latency != nil {
		return *r.Latency
	}
	if s.Latency != nil {
		return *s.Latency
	}
	return DefaultLatency(service)
}

// RouteFaults returns the effective faults of route within s.
func (s Service) RouteFaults(route string) Faults {
	if r, ok := s.Routes[route]; ok && r.Faults != nil {
		return *r.Faults
	}
	if s.Faults != nil {
		return *s.Faults
	}
	return Faults{}
}

// Clone returns a deep copy of c.
func (c Config) Clone() Config {
	if c == nil {
		return nil
	}
	out := make(Config, len(c))
	for k, v := range c {
		out[k] = v.Clone()
	}
	return out
}

// Clone returns a deep copy of s.
func (s Service) Clone() Service {
	out := s
	out.Latency = cloneLatency(s.Latency)
	out.Faults = cloneFaults(s.Faults)
	if s.Routes != nil {
		out.Routes = make(map[string]Route, len(s.Routes))
		for k, r := range s.Routes {
			out.Routes[k] = Route{Latency: cloneLatency(r.Latency), Faults: cloneFaults(r.Faults)}
		}
	}
	return out
}

func cloneLatency(l *Latency) *Latency {
	if l == nil {
		return nil
	}
	v := *l
	if l.Spike != nil {
		s := *l.Spike
		v.Spike = &s
	}
	return &v
}

func cloneFaults(f *Faults) *Faults {
	if f == nil {
		return nil
	}
	v := *f
	return &v
}

// SetLatency sets the latency of a whole service (route "") or of one of
// its routes, in place. c must not be nil.
func (c Config) SetLatency(service, route string, l Latency) error {
	if !KnownService(service) {
		return fmt.Errorf("unknown service %q (known: %s)", service, strings.Join(Services, ", "))
	}
	if route != "" && !KnownRoute(service, route) {
		return fmt.Errorf("unknown route %q of service %s (known: %s)", route, service, strings.Join(ServiceRoutes(service), ", "))
	}
	if err := l.Validate(); err != nil {
		return fmt.Errorf("latency of %s: %w", service, err)
	}
	s := c[service].Clone()
	if route == "" {
		s.Latency = &l
	} else {
		if s.Routes == nil {
			s.Routes = map[string]Route{}
		}
		r := s.Routes[route]
		r.Latency = &l
		s.Routes[route] = r
	}
	c[service] = s
	return nil
}

// Validate checks every service of c. The first problem found (services and
// routes in name order) is returned as a *FieldError whose Path starts with
// "backends.", e.g. "backends.results.routes.get_results.latency.p99".
func (c Config) Validate() error {
	for _, name := range slices.Sorted(maps.Keys(c)) {
		if !KnownService(name) {
			return &FieldError{Path: "backends." + name, Reason: fmt.Sprintf("unknown service %q (known: %s)", name, strings.Join(Services, ", "))}
		}
		if err := c[name].Validate(name); err != nil {
			return prefix(err, "backends."+name)
		}
	}
	return nil
}

// Validate checks s as the model of service. Errors are *FieldError with a
// Path relative to the service ("routes.get_results.latency.p99").
func (s Service) Validate(service string) error {
	if s.Latency != nil {
		if err := s.Latency.Validate(); err != nil {
			return prefix(err, "latency")
		}
	}
	if s.Faults != nil {
		if err := s.Faults.Validate(); err != nil {
			return prefix(err, "faults")
		}
	}
	if s.MaxInFlight < 0 {
		return &FieldError{Path: "max_in_flight", Reason: fmt.Sprintf("negative value %d", s.MaxInFlight)}
	}
	if s.QueueLimit < 0 {
		return &FieldError{Path: "queue_limit", Reason: fmt.Sprintf("negative value %d", s.QueueLimit)}
	}
	if s.QueueLimit > 0 && s.MaxInFlight == 0 {
		return &FieldError{Path: "queue_limit", Reason: "needs max_in_flight (without a cap nothing queues)"}
	}
	for _, name := range slices.Sorted(maps.Keys(s.Routes)) {
		if !KnownRoute(service, name) {
			return &FieldError{Path: "routes." + name, Reason: fmt.Sprintf("unknown route %q of service %s (known: %s)", name, service, strings.Join(ServiceRoutes(service), ", "))}
		}
		r := s.Routes[name]
		if r.Latency != nil {
			if err := r.Latency.Validate(); err != nil {
				return prefix(err, "routes."+name+".latency")
			}
		}
		if r.Faults != nil {
			if err := r.Faults.Validate(); err != nil {
				return prefix(err, "routes."+name+".faults")
			}
		}
	}
	return nil
}
