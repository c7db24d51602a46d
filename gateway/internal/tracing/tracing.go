// Package tracing is the gateway's OpenTelemetry tracing: the tracer
// provider of the official SDK, which exports spans over OTLP/HTTP, and the
// spans of one public request, the server span and a client span per
// backend call, with the W3C trace context read from the client.
//
// Tracing is off unless an OTLP endpoint is given (-otlp-endpoint, or the
// SDK's OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT
// environment variables). Off, the Tracer is nil, every method of a nil
// Tracer or Request does nothing, and the gateway's request path pays a
// nil check.
package tracing

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// ServiceName is the service.name of the gateway's spans, unless
// OTEL_SERVICE_NAME or OTEL_RESOURCE_ATTRIBUTES say otherwise.
const ServiceName = "fanout-gateway"

// Environment variables of the OpenTelemetry SDK that switch tracing on and
// choose its sampler; the SDK reads them itself, and the gateway's flags win
// over them.
const (
	EnvEndpoint       = "OTEL_EXPORTER_OTLP_ENDPOINT"
	EnvTracesEndpoint = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"
	EnvSampler        = "OTEL_TRACES_SAMPLER"
	EnvSamplerArg     = "OTEL_TRACES_SAMPLER_ARG"
)

// tracesPath is the OTLP/HTTP path of traces, which a base URL gets.
const tracesPath = "/v1/traces"

// Config says where spans go and which requests are traced.
type Config struct {
	// Endpoint is the OTLP/HTTP collector's URL (http://HOST:4318). A URL
	// without a path is a base URL, as OTEL_EXPORTER_OTLP_ENDPOINT is, and
	// gets /v1/traces; one with a path is used as it is. "": the SDK's
	// environment variables, and tracing is off if they are unset too.
	Endpoint string
	// Sample is the share of the traces started here that are recorded,
	// between 0 and 1, when SampleGiven; a request whose client sent a
	// traceparent follows the client's decision (parent-based). Without
	// SampleGiven, the SDK's OTEL_TRACES_SAMPLER decides, and its default
	// is to record every trace (parentbased_always_on).
	Sample      float64
	SampleGiven bool
}

// Enabled reports whether cfg switches tracing on: an endpoint given, or
// one of the SDK's endpoint variables set.
func (cfg Config) Enabled() bool {
	return cfg.Endpoint != "" || os.Getenv(EnvEndpoint) != "" || os.Getenv(EnvTracesEndpoint) != ""
}

// CheckEndpoint reports whether u is usable as Config.Endpoint: an http or
// https URL with a host. The SDK would otherwise keep its default endpoint
// without a word.
func CheckEndpoint(u string) error {
	p, err := url.Parse(u)
	if err != nil {
		return fmt.Errorf("otlp endpoint: %w", err)
	}
	if (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
		return fmt.Errorf("otlp endpoint %q: want http://HOST:PORT or https://HOST:PORT", u)
	}
	return nil
}

// Tracer records the spans of the gateway's requests and exports them in
// batches. A nil *Tracer is tracing off: its methods do nothing. It is safe
// for concurrent use.
type Tracer struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
}

// New returns the Tracer cfg asks for, or nil (tracing off) when cfg is
// not Enabled. The exporter does not connect before the first batch: a
// collector that is down costs the dropped spans, logged by the SDK, never
// a request.
func New(cfg Config) (*Tracer, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	var opts []otlptracehttp.Option
	if cfg.Endpoint != "" {
		if err := CheckEndpoint(cfg.Endpoint); err != nil {
			return nil, err
		}
		opts = append(opts, otlptracehttp.WithEndpointURL(tracesURL(cfg.Endpoint)))
	}
	// New does not dial: the context only bounds the set-up.
	exp, err := otlptracehttp.New(context.Background(), opts...)
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res, err := resource.Merge(resource.Default(),
		resource.NewSchemaless(attribute.String("service.name", ServiceName)))
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	popts := []sdktrace.TracerProviderOption{sdktrace.WithBatcher(exp), sdktrace.WithResource(res)}
	if cfg.SampleGiven {
		if cfg.Sample < 0 || cfg.Sample > 1 {
			return nil, fmt.Errorf("trace sample %v: want a share between 0 and 1", cfg.Sample)
		}
		// Given last, over the SDK's reading of OTEL_TRACES_SAMPLER.
		popts = append(popts, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(cfg.Sample))))
	}
	tp := sdktrace.NewTracerProvider(popts...)
	return &Tracer{provider: tp, tracer: tp.Tracer("fanout/gateway")}, nil
}

// tracesURL is the URL spans are posted to: a base URL (no path) gets the
// traces path, as the SDK does with OTEL_EXPORTER_OTLP_ENDPOINT.
func tracesURL(u string) string {
	p, err := url.Parse(u)
	if err != nil || strings.Trim(p.Path, "/") != "" {
		return u
	}
	p.Path = tracesPath
	return p.String()
}

// Shutdown exports the spans still buffered and stops the exporter,
// within ctx. Call it once, when the gateway stops; nil does nothing.
func (t *Tracer) Shutdown(ctx context.Context) error {
	if t == nil {
		return nil
	}
	if err := t.provider.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracer shutdown: %w", err)
	}
	return nil
}
