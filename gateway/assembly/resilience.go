package assembly

import (
	"log/slog"

	"fanout/gateway/internal/breaker"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/overload"
	"fanout/gateway/internal/server"
)

// resilience builds the policies that cfg turns on (the breakers, the
// overload limit) and the settings of the calls' policies (the retry
// budget); the others stay off.
func resilience(cfg config.Resilience, backends []string, log *slog.Logger) (server.Config, error) {
	var p server.Config
	var err error
	if log == nil {
		log = slog.Default()
	}
	if cfg.Breaker {
		// A transition is rare and worth a line: it is when the gateway
		// starts or stops refusing a backend's calls.
		p.Policies.Breakers, err = breaker.New(backends, cfg.BreakerSettings(), func(t breaker.Transition) {
			log.Warn("circuit breaker", "backend", t.Backend, "from", t.From.String(), "to", t.To.String())
		})
		if err != nil {
			return p, err
		}
	}
	if cfg.Overload {
		if p.Overload, err = overload.New(overload.Settings{Max: cfg.OverloadMax}); err != nil {
			return p, err
		}
	}
	p.Policies.RetryBudget = float64(cfg.RetryBudget)
	return p, nil
}
