package assembly

import (
	"context"
	"errors"
	"log/slog"

	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/tracing"
)

// observers are how operators see the gateway's requests, beside its
// metrics: traces and the access log.
type observers struct {
	tracer *tracing.Tracer // nil: tracing off
	access *accesslog.Logger
}

// newObservers makes the tracer cfg asks for (off without an endpoint in
// the flags or the environment) and the access log, written to log.
func newObservers(cfg config.Config, log *slog.Logger) (observers, error) {
	tracer, err := tracing.New(tracing.Config{
		Endpoint:    cfg.OTLPEndpoint,
		Sample:      float64(cfg.TraceSample.Ratio),
		SampleGiven: cfg.TraceSample.Given,
	})
	if err != nil {
		return observers{}, err
	}
	access, err := accesslog.New(log, float64(cfg.AccessLogSample))
	if err != nil {
		// Nothing was exported yet: the shutdown only stops the exporter.
		return observers{}, errors.Join(err, tracer.Shutdown(context.Background()))
	}
	switch {
	case tracer != nil:
		log.Info("tracing on", "otlp_endpoint", cfg.OTLPEndpoint, "trace_sample", cfg.TraceSample.String())
	case cfg.TraceSample.Given:
		log.Warn("-trace-sample is set, but no -otlp-endpoint nor " + tracing.EnvEndpoint + ": tracing is off")
	}
	return observers{tracer: tracer, access: access}, nil
}
