package stage

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"fanout/gateway/fanout"
)

// MaxPoolSize bounds the pool size the page may ask for: far past any pool
// a talk shows, small enough that a typing slip cannot start a gateway with
// a million workers.
const MaxPoolSize = 4096

// Gateway is what the page sets of the gateway: its mode and the policies
// it toggles. A change restarts the gateway behind the stage's stable
// address, since each is a start-up setting of the gateway, as in
// production.
type Gateway struct {
	// Mode is the fan-out mode, one of fanout.Modes.
	Mode string `json:"mode"`
	// PoolSize is the pool's size in mode pool.
	PoolSize int `json:"pool_size"`
	// Hedging lets the gateway send the duplicates that x-fanout's hedge
	// declares (within its default budget); off is -hedge-budget 0.
	Hedging bool `json:"hedging"`
	// Breakers turns on a circuit breaker per backend (-breaker on).
	Breakers bool `json:"breakers"`
	// Shedding turns on the adaptive overload limit (-overload on), which
	// answers 503 rather than queue past what the gateway can serve.
	Shedding bool `json:"shedding"`
	// Coalescing runs the coalescing and caching that x-fanout declares
	// (-coalesce on).
	Coalescing bool `json:"coalescing"`
}

// DefaultGateway is the gateway a stage starts with: concurrent, with the
// gateway's own policy defaults but for shedding, which is off so that
// what blocking and pools do is seen rather than refused; the page turns
// it on to show it respond.
var DefaultGateway = Gateway{Mode: fanout.ModeConcurrent, PoolSize: 16, Hedging: true, Coalescing: true}

// Validate reports the first setting the gateway cannot run with.
func (g Gateway) Validate() error {
	if !slices.Contains(fanout.Modes, g.Mode) {
		return fmt.Errorf("unknown mode %q (modes: %s)", g.Mode, strings.Join(fanout.Modes, ", "))
	}
	if g.PoolSize < 1 || g.PoolSize > MaxPoolSize {
		return fmt.Errorf("pool size %d: want 1 to %d", g.PoolSize, MaxPoolSize)
	}
	return nil
}

// args are the gateway's flags for g's policies.
func (g Gateway) args() []string {
	onOff := func(b bool) string {
		if b {
			return "on"
		}
		return "off"
	}
	args := []string{"-breaker", onOff(g.Breakers), "-overload", onOff(g.Shedding), "-coalesce", onOff(g.Coalescing)}
	if !g.Hedging {
		args = append(args, "-hedge-budget", "0")
	}
	return args
}

// Label names the gateway as the charts' markers do: "blocking",
// "pool of 4", "concurrent +breakers -hedging".
func (g Gateway) Label() string {
	s := g.Mode
	if g.Mode == fanout.ModePool {
		s = "pool of " + strconv.Itoa(g.PoolSize)
	}
	// Only what differs from the defaults is named, so a marker stays short.
	d := DefaultGateway
	for _, p := range []struct {
		name    string
		on, def bool
	}{{"hedging", g.Hedging, d.Hedging}, {"breakers", g.Breakers, d.Breakers}, {"shedding", g.Shedding, d.Shedding}, {"coalescing", g.Coalescing, d.Coalescing}} {
		switch {
		case p.on && !p.def:
			s += " +" + p.name
		case !p.on && p.def:
			s += " -" + p.name
		}
	}
	return s
}

// errBadRequest marks an error of the page's request, answered 400; any
// other error of a control is the stage's own, answered 502 (a process
// that would not start or answer).
var errBadRequest = errors.New("bad request")

func badRequest(format string, args ...any) error {
	return fmt.Errorf("%w: %s", errBadRequest, fmt.Sprintf(format, args...))
}
