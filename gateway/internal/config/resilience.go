package config

import (
	"flag"
	"fmt"
	"strconv"
	"time"

	"fanout/gateway/internal/breaker"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/retry"
)

// Resilience are the gateway's process-wide resilience settings: overload
// shedding (on by default), a breaker per backend (off unless turned on)
// and the retry budget of the calls that declare `retry: true`.
type Resilience struct {
	// Overload turns shedding on or off: past a limit on requests in
	// progress that binds only while the gateway's own CPUs saturate.
	Overload Switch `yaml:"overload"`
	// OverloadMax is the most requests in progress the gateway admits,
	// saturated or not; the shedding limit stays at it while the
	// gateway's CPUs are not saturated.
	OverloadMax int `yaml:"overload_max"`
	// Breaker turns the per-backend circuit breakers on or off; the
	// thresholds below apply when on.
	Breaker            Switch        `yaml:"breaker"`
	BreakerFailures    uint32        `yaml:"breaker_failures"`     // consecutive faults that open it
	BreakerFailureRate Ratio         `yaml:"breaker_failure_rate"` // share of faults in the window that opens it
	BreakerOpen        time.Duration `yaml:"breaker_open"`         // how long it stays open before a probe
	BreakerProbes      uint32        `yaml:"breaker_probes"`       // probes let through while half-open
	// RetryBudget is the share of the calls declaring retry that may be
	// retried; 0 turns retries off.
	RetryBudget Ratio `yaml:"retry_budget"`
}

// DefaultResilience returns the policies' defaults.
func DefaultResilience() Resilience {
	return Resilience{
		Overload:           true,
		OverloadMax:        overload.DefaultMax,
		Breaker:            false,
		BreakerFailures:    breaker.DefaultFailures,
		BreakerFailureRate: breaker.DefaultFailureRate,
		BreakerOpen:        breaker.DefaultOpen,
		BreakerProbes:      breaker.DefaultProbes,
		RetryBudget:        retry.DefaultRatio,
	}
}

// BreakerSettings returns the breakers' thresholds.
func (r Resilience) BreakerSettings() breaker.Settings {
	return breaker.Settings{
		Failures:    r.BreakerFailures,
		FailureRate: float64(r.BreakerFailureRate),
		Open:        r.BreakerOpen,
		Probes:      r.BreakerProbes,
	}
}

func (r *Resilience) flags(fs *flag.FlagSet) {
	fs.Var(&r.Overload, "overload", "while the gateway's own CPUs saturate (a long or crowded run queue on busy CPUs), shed requests beyond a limit on requests in progress with 503 and Retry-After: `on|off`")
	fs.IntVar(&r.OverloadMax, "overload-max", r.OverloadMax, "the most requests in progress admitted, saturated or not, with -overload on; beyond them, 503 and Retry-After")
	fs.Var(&r.Breaker, "breaker", "a circuit breaker per backend, `on|off`: while one is open, a request that needs its backend gets 503 at once (default off)")
	fs.Func("breaker-failures", "`COUNT` of consecutive backend faults that open its breaker (default "+strconv.Itoa(breaker.DefaultFailures)+")", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("want a count of at least 1, got %q", v)
		}
		r.BreakerFailures = uint32(n)
		return nil
	})
	fs.Var(&r.BreakerFailureRate, "breaker-failure-rate", "`SHARE` of faults among a backend's calls of the last 10 s (20 calls at least) that opens its breaker, e.g. 50%")
	fs.DurationVar(&r.BreakerOpen, "breaker-open", r.BreakerOpen, "how long an open breaker refuses calls before it lets a probe through")
	fs.Func("breaker-probes", "`COUNT` of calls a half-open breaker lets through; their success closes it (default "+strconv.Itoa(breaker.DefaultProbes)+")", func(v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return fmt.Errorf("want a count of at least 1, got %q", v)
		}
		r.BreakerProbes = uint32(n)
		return nil
	})
	fs.Var(&r.RetryBudget, "retry-budget", "`SHARE` of the calls that declare retry (x-fanout) that may be retried once, after a 503 or a call never sent, e.g. 10%; 0 turns retries off")
}

// validate reports a setting out of range, naming it.
func (r Resilience) validate() error {
	switch {
	case r.OverloadMax < 1:
		return fmt.Errorf("overload_max: %d, want at least 1", r.OverloadMax)
	case r.BreakerFailures < 1:
		return fmt.Errorf("breaker_failures: %d, want at least 1", r.BreakerFailures)
	case r.BreakerFailureRate <= 0 || r.BreakerFailureRate > 1:
		return fmt.Errorf("breaker_failure_rate: %v, want more than 0%% and at most 100%%", r.BreakerFailureRate)
	case r.BreakerOpen <= 0:
		return fmt.Errorf("breaker_open: %s, want more than 0", r.BreakerOpen)
	case r.BreakerProbes < 1:
		return fmt.Errorf("breaker_probes: %d, want at least 1", r.BreakerProbes)
	case r.RetryBudget < 0 || r.RetryBudget > 1:
		return fmt.Errorf("retry_budget: %v, want between 0%% and 100%%", r.RetryBudget)
	}
	return nil
}
