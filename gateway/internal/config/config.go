// Package config holds the gateway's settings in one struct, Config, bound
// to both the YAML file (-config) and the command-line flags: defaults that
// work on a laptop, then the file, then the flags set explicitly, in that
// order of precedence, lowest first. Config embeds the server's limits on
// clients and the backend clients' options, so a setting is declared once,
// with its default, and reaches the part that uses it unchanged.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"text/template"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/accesslog"
	"fanout/gateway/internal/backend"
	"fanout/gateway/internal/server"
	"fanout/gateway/internal/store"
	"fanout/gateway/internal/tracing"

	"go.yaml.in/yaml/v3"
)

// Defaults of the settings that belong to the gateway process itself; the
// others are the server's (server.DefaultLimits), the backend clients'
// (backend.Default*) and the engine's (fanout.DefaultPoolSize).
const (
	DefaultAddr = "127.0.0.1:8080"
	// DefaultAdminAddr is the admin listener's: loopback only, since
	// /metrics, /readyz and pprof are for operators.
	DefaultAdminAddr = "127.0.0.1:9090"
	// AdminOff as the admin address disables the admin listener.
	AdminOff     = "off"
	DefaultGrace = 10 * time.Second
	// AuthOn and AuthOff are the values of -auth.
	AuthOn  = "on"
	AuthOff = "off"
	// RedisPasswordEnv is the environment variable that may hold Redis's
	// password, which then need not be in -redis's URL.
	RedisPasswordEnv = "FANOUT_REDIS_PASSWORD"
	// LogText and LogJSON are the values of -log-format.
	LogText = "text"
	LogJSON = "json"
)

// DefaultBackends are the backends' addresses when nothing else says.
var DefaultBackends = map[string]string{
	"experiments": "127.0.0.1:9101",
	"layers":      "127.0.0.1:9102",
	"projects":    "127.0.0.1:9103",
	"results":     "127.0.0.1:9104",
}

// Config is every setting of the gateway. The YAML keys are the flag names
// with underscores for dashes, but for max_conns (-max-backend-conns, whose
// old name -max-conns stays as an alias); -backend NAME=HOST:PORT sets
// backends.
type Config struct {
	Addr      string        `yaml:"addr"`
	AdminAddr string        `yaml:"admin_addr"` // operations endpoints; "off": none
	Mode      string        `yaml:"mode"`
	PoolSize  int           `yaml:"pool_size"`
	Deadline  time.Duration `yaml:"deadline"` // whole public request
	Grace     time.Duration `yaml:"grace"`    // graceful shutdown
	// DrainDelay is how long the public listener serves on after SIGTERM,
	// every answer with Connection: close, while /readyz says draining,
	// before the grace period starts: time for load balancers to take the
	// replica out. 0: the grace period starts at once.
	DrainDelay time.Duration `yaml:"drain_delay"`
	// TLSCert and TLSKey are the PEM files of the public listener's
	// certificate and key; both empty: plain HTTP.
	TLSCert  string                     `yaml:"tls_cert"`
	TLSKey   string                     `yaml:"tls_key"`
	Backends map[string]backend.Backend `yaml:"backends"`
	LogLevel string                     `yaml:"log_level"` // debug, info, warn, error
	// HedgeBudget is the fraction of hedged calls that may get a
	// duplicate; 0 turns hedging off.
	HedgeBudget Ratio `yaml:"hedge_budget"`
	// Coalesce off turns the coalescing and caching that x-fanout
	// declares off, to compare with them.
	Coalesce Switch `yaml:"coalesce"`
	// Tokens is the tokens file; "": a development token is generated.
	Tokens string `yaml:"tokens"`
	// Auth is AuthOn or AuthOff (no token needed: labs only).
	Auth string `yaml:"auth"`
	// Redis is the URL of the store shared by replicas; "": memory.
	Redis string `yaml:"redis"`
	// RedisPasswordFile holds Redis's password, which then need not be in
	// the URL (where the process list shows it); "": the environment's
	// RedisPasswordEnv, if set, else the URL's.
	RedisPasswordFile string `yaml:"redis_password_file"`
	// IdempotencyMaxBytes bounds the idempotency records kept in memory
	// (without -redis); past it, the least likely to be asked for again
	// are evicted.
	IdempotencyMaxBytes int64 `yaml:"idempotency_max_bytes"`
	// IdempotencyQuota is how many idempotency records one token may hold.
	IdempotencyQuota int `yaml:"idempotency_quota"`
	// RateLimitOnStoreError is what a request whose rate limit the store
	// cannot check gets: FailOpen (the default) lets it through,
	// unchecked and counted, so that a Redis outage is not an API
	// outage; FailClosed answers 503.
	RateLimitOnStoreError FailMode `yaml:"ratelimit_on_store_error"`
	// IdempotencyOnStoreError is what a create with an Idempotency-Key
	// gets when the store cannot claim the key: FailClosed (the default)
	// answers 503, safe to retry; FailOpen performs it without a record
	// to replay, leaving duplicates to the backend's own key check.
	IdempotencyOnStoreError FailMode `yaml:"idempotency_on_store_error"`
	// Pprof serves the Go profiler under /debug/pprof/ on the admin
	// listener. Off by default: a profile costs CPU, and the admin
	// listener has no authentication.
	Pprof bool `yaml:"pprof"`
	// Procs is how many CPUs run the gateway's Go code at once
	// (GOMAXPROCS); 0 leaves Go's default, the CPUs the process may use.
	// A replica given fewer cores than its machine has, beside other
	// processes, sets it so that its overload signal, its own scheduling
	// delay, measures its share and not the machine.
	Procs int `yaml:"procs"`
	// Work is CPU time each fan-out request spends in the gateway before
	// its backend calls (labs only; 0: none). It stands for a heavier
	// gateway's own work, so that a bench can make the gateway's CPU, not
	// the load generator's or the backends', the first to saturate.
	Work time.Duration `yaml:"work"`

	// OTLPEndpoint is the OTLP/HTTP collector traces go to
	// (http://HOST:4318); "": the SDK's OTEL_EXPORTER_OTLP_ENDPOINT, and
	// no tracing if that is unset too.
	OTLPEndpoint string `yaml:"otlp_endpoint"`
	// TraceSample is the share of the traces the gateway starts that are
	// recorded (parent-based: a client's decision stands); not given:
	// OTEL_TRACES_SAMPLER, else every trace.
	TraceSample OptionalRatio `yaml:"trace_sample"`
	// LogFormat is LogText or LogJSON.
	LogFormat string `yaml:"log_format"`
	// AccessLogSample is the share of successful requests that get an
	// access line; every failed one gets one.
	AccessLogSample Ratio `yaml:"access_log_sample"`
	// DevTokenFile is where the development token's secret is written
	// (mode 0600) instead of standard output; "": standard output.
	DevTokenFile string `yaml:"dev_token_file"`

	// Limits bound the clients: slow or oversized ones must not starve the
	// others. MaxClientConns counts client connections.
	server.Limits `yaml:",inline"`
	// Options configure the backend clients: MaxConns counts connections
	// to one backend, Timeout (backend_timeout) bounds one call.
	backend.Options `yaml:",inline"`
	// Resilience are the overload, breaker and retry policies.
	Resilience `yaml:",inline"`
}

// Default returns the settings used when nothing else is given.
func Default() Config {
	return Config{
		Addr:        DefaultAddr,
		AdminAddr:   DefaultAdminAddr,
		Mode:        fanout.ModeConcurrent,
		PoolSize:    fanout.DefaultPoolSize,
		Deadline:    server.DefaultDeadline,
		Grace:       DefaultGrace,
		Backends:    Backends(DefaultBackends),
		LogLevel:    "info",
		LogFormat:   LogText,
		HedgeBudget: DefaultHedgeBudget,
		Coalesce:    true,
		Auth:        AuthOn,
		Limits:      server.DefaultLimits(),
		Options:     backend.Options{MaxConns: backend.DefaultMaxConns},
		Resilience:  DefaultResilience(),

		IdempotencyMaxBytes:     store.DefaultMaxRecordBytes,
		IdempotencyQuota:        store.DefaultRecordQuota,
		AccessLogSample:         accesslog.DefaultSample,
		RateLimitOnStoreError:   FailOpen,
		IdempotencyOnStoreError: FailClosed,
	}
}

// Backends returns backends at the given addresses (by name), whose own
// limits are left to the backend options.
func Backends(addrs map[string]string) map[string]backend.Backend {
	bs := make(map[string]backend.Backend, len(addrs))
	for name, addr := range addrs {
		bs[name] = backend.Backend{Addr: addr}
	}
	return bs
}

// usage is the text of -h before the flags. Its example file shows the
// defaults, filled in from Default, so that they are declared once.
var usage = template.Must(template.New("usage").Funcs(template.FuncMap{
	// modes lists the fan-out modes as fanout declares them.
	"modes": func() string { return strings.Join(fanout.Modes, " | ") },
}).Parse(`Usage: gateway [flags]

Fanout's API gateway: serves the public API of gateway/assembly/openapi.yaml on
fasthttp, validates every request against it and fans aggregate requests out
to the backend services with the chosen strategy (-mode).

Prints "LISTEN gateway=HOST:PORT" on stdout once it serves, then
"LISTEN admin=HOST:PORT" for the admin listener (/metrics, /readyz, /healthz,
and /debug/pprof/ with -pprof), unless -admin-addr off; logs go to stderr.
Stops gracefully on SIGINT or SIGTERM. First it drains: /readyz answers 503
draining at once, and the public port serves on for -drain-delay, every answer
with Connection: close, so that load balancers and clients' keep-alive
connections move to other replicas. Then in-flight requests get -grace to
finish; those still running then are answered 503 (Connection: close), or 504
(outcome unknown) for a create already sent to the backend, their count is
logged, and the gateway exits 0.
On SIGHUP it reloads the -tokens file and the -tls-cert/-tls-key files; a file
that does not load leaves the one in use in place, and the log says why.

Examples:
  gateway                                   # defaults: {{.Addr}}, backends on :9101..9104
  gateway -addr 127.0.0.1:0 -mode sequential
  gateway -mode pool -pool-size 4
  gateway -backend results=10.0.0.7:9104 -backend-timeout 300ms -deadline 1s
  gateway -config gateway.yaml -mode blocking   # flags override the file
  gateway -hedge-budget 0                   # no hedged duplicates, whatever x-fanout declares
  gateway -tokens tokens.yaml -redis redis://127.0.0.1:6379/0
  gateway -tls-cert cert.pem -tls-key key.pem -drain-delay 5s   # HTTPS, behind a balancer
  gateway -otlp-endpoint http://127.0.0.1:4318 -trace-sample 1%   # traces to an OTLP collector (Jaeger)
  gateway -log-format json -access-log-sample 0   # JSON logs, access lines for failures only
  FANOUT_REDIS_PASSWORD=... gateway -redis redis://10.0.0.5:6379/0   # the password off the command line
  gateway -redis 'redis://10.0.0.6:26379/0?master_name=fanout&addr=10.0.0.7:26379'   # the primary Sentinel names

Every /v2 request needs "Authorization: Bearer TOKEN". Without -tokens, a
development token is generated at start-up and printed on stdout, after the
LISTEN lines, with a curl line that uses it (or written to -dev-token-file),
never into the log on stderr. A tokens file holds the SHA-256 of each secret
(printf %s SECRET | sha256sum), never the secret:
  tokens:
    - name: ci
      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
      projects: [1, 2]            # or: all
      access: read-write          # or: read (GET only)
      rate: {limit: 100, per: 1s} # GCRA; bursts of up to limit
-auth off lets every request in, unlimited, and warns at every start: labs only.
Rate limits and Idempotency-Key records live in memory, or in Redis (-redis)
when several replicas must share them. While Redis does not answer, requests
are let through without their rate limit (-ratelimit-on-store-error open,
counted in fanout_store_unchecked_total), and creates with an Idempotency-Key
get 503, safe to retry (-idempotency-on-store-error closed).

Traces (OpenTelemetry, OTLP/HTTP) are off unless -otlp-endpoint or
OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set;
-trace-sample, or else OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, picks
the traces recorded. A flag given wins over its variable. The W3C traceparent
and tracestate of a client are followed, and every backend call carries them.
Every request gets one access line on stderr (message "request") when it
fails, and a -access-log-sample share of the others do.

Config file (YAML, unknown fields are errors; the values shown are the defaults):
  addr: {{.Addr}}
  admin_addr: {{.AdminAddr}}  # or off
  mode: {{.Mode}}          # {{modes}}
  pool_size: {{.PoolSize}}
  deadline: {{.Deadline}}
  grace: {{.Grace}}
  drain_delay: {{.DrainDelay}}            # serve on after SIGTERM, /readyz 503, Connection: close
  tls_cert: ""              # PEM FILE of the public listener's certificate; "": plain HTTP
  tls_key: ""               # PEM FILE of its key; both reloaded on SIGHUP
  log_level: {{.LogLevel}}           # debug | info | warn | error
  log_format: {{.LogFormat}}          # text | json
  access_log_sample: {{.AccessLogSample}}    # of successful requests; failed ones always get an access line
  otlp_endpoint: ""         # OTLP/HTTP URL of the trace collector; "": $OTEL_EXPORTER_OTLP_ENDPOINT, else no traces
  trace_sample: ""          # of the traces started here, e.g. 1%; "": $OTEL_TRACES_SAMPLER, else all
  dev_token_file: ""        # a FILE (0600) for the development token; "": printed on stdout
  hedge_budget: {{.HedgeBudget}}         # duplicates of hedged calls, of their calls; 0 = hedging off
  coalesce: {{.Coalesce}}             # off: no coalescing or caching, whatever x-fanout declares
  tokens: ""                # a tokens FILE; "": a development token, printed on stdout
  auth: {{.Auth}}                  # on | off
  redis: ""                 # redis://HOST:PORT/DB shared by replicas, or Sentinel's
                            # redis://SENTINEL:PORT/DB?master_name=NAME&addr=SENTINEL2:PORT; "": in memory
  redis_password_file: ""   # a FILE with Redis's password; "": $FANOUT_REDIS_PASSWORD, else the URL's
  pprof: {{.Pprof}}               # the Go profiler on the admin listener
  procs: {{.Procs}}                  # CPUs running the gateway's code (GOMAXPROCS); 0 = Go's default
  work: {{.Work}}                  # labs only: CPU each fan-out request spends before its calls
  idempotency_max_bytes: {{.IdempotencyMaxBytes}}   # Idempotency-Key records in memory; past it, evictions
  idempotency_quota: {{.IdempotencyQuota}}      # records one token may hold
  ratelimit_on_store_error: {{.RateLimitOnStoreError}}     # open: unchecked while the store fails | closed: 503
  idempotency_on_store_error: {{.IdempotencyOnStoreError}} # closed: 503, safe to retry | open: no record to replay
  max_conns: {{.MaxConns}}            # per backend (flag: -max-backend-conns)
  backend_timeout: {{.Options.Timeout}}       # per call; 0 = only the request deadline
  backends:                 # over the defaults, by name; a backend's own limits win
    results: {addr: {{(index .Backends "results").Addr}}, max_conns: 64, timeout: 500ms}
  read_timeout: {{.ReadTimeout}}          # limits on clients; see the flags below
  header_timeout: {{.HeaderTimeout}}
  write_timeout: {{.WriteTimeout}}
  idle_timeout: {{.IdleTimeout}}
  max_body_size: {{.MaxRequestBodySize}}
  max_header_size: {{.MaxHeaderSize}}
  max_client_conns: {{.MaxClientConns}}
  max_conns_per_ip: {{.MaxConnsPerIP}}     # 0 behind a proxy: its clients share its address
  max_body_bytes_in_flight: {{.MaxBodyBytesInFlight}}
  max_body_bytes_per_ip: {{.MaxBodyBytesPerIP}}
  overload: {{.Overload}}              # shed past a limit on requests in progress while the gateway's CPUs saturate; off: never shed
  overload_max: {{.OverloadMax}}       # the most requests in progress admitted, saturated or not
  breaker: {{.Breaker}}              # a circuit breaker per backend
  breaker_failures: {{.BreakerFailures}}
  breaker_failure_rate: {{.BreakerFailureRate}}
  breaker_open: {{.BreakerOpen}}
  breaker_probes: {{.BreakerProbes}}
  retry_budget: {{.RetryBudget}}         # of the calls declaring retry: true; 0 = no retries

Flags:
`))

// Usage returns the text of -h that comes before the flags.
func Usage() string {
	var b strings.Builder
	if err := usage.Execute(&b, Default()); err != nil {
		// Only an edit of the template can get here, and the tests
		// execute it: say what broke rather than print half a text.
		return fmt.Sprintf("usage: %v\n", err)
	}
	return b.String()
}

// backendFlag collects repeated -backend NAME=HOST:PORT into the backends.
type backendFlag map[string]backend.Backend

func (b backendFlag) String() string {
	parts := make([]string, 0, len(b))
	for n, be := range b {
		parts = append(parts, n+"="+be.Addr)
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func (b backendFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("want NAME=HOST:PORT, got %q", v)
	}
	be := b[name]
	be.Addr = addr
	b[name] = be
	return nil
}

// flags returns the gateway's flag set bound to the fields of c, whose
// current values are the flags' defaults, and -config to file. It is the
// one place a flag is declared.
func (c *Config) flags(file *string, out io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, Usage())
		fs.PrintDefaults()
	}
	fs.StringVar(file, "config", "", "YAML `FILE` with settings; flags given as well override it")
	fs.StringVar(&c.Addr, "addr", c.Addr, "listen `HOST:PORT` (port 0 picks a free port)")
	fs.StringVar(&c.AdminAddr, "admin-addr", c.AdminAddr, "admin listener `HOST:PORT` for /metrics, /readyz, /healthz and pprof (port 0 picks a free port; off: none)")
	fs.StringVar(&c.Mode, "mode", c.Mode, "fan-out `MODE`: "+strings.Join(fanout.Modes, ", "))
	fs.IntVar(&c.PoolSize, "pool-size", c.PoolSize, "workers of the process-wide pool in -mode pool")
	fs.DurationVar(&c.Deadline, "deadline", c.Deadline, "deadline of a whole public request")
	fs.DurationVar(&c.Grace, "grace", c.Grace, "how long in-flight requests may run on after SIGINT/SIGTERM; then they get 503 (504 for a create already sent) and the gateway exits 0")
	fs.DurationVar(&c.DrainDelay, "drain-delay", c.DrainDelay, "how long the public port serves on after SIGTERM, every answer with Connection: close, while /readyz answers 503 draining, before -grace starts: time for load balancers to take the replica out (e.g. 5s behind one)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM `FILE` of the certificate (chain) of the public listener, which then serves HTTPS (TLS 1.2 and later); reloaded on SIGHUP; needs -tls-key")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM `FILE` of the private key of -tls-cert; reloaded on SIGHUP")
	fs.IntVar(&c.MaxConns, "max-backend-conns", c.MaxConns, "maximum connections per backend")
	// -max-conns was the flag's first name; beside -max-client-conns it
	// reads as either, so it stays only for the scripts that use it.
	fs.IntVar(&c.MaxConns, "max-conns", c.MaxConns, "deprecated: use -max-backend-conns")
	fs.DurationVar(&c.Options.Timeout, "backend-timeout", c.Options.Timeout, "timeout of one backend call; 0: only the request deadline")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log `LEVEL`: debug, info, warn, error")
	fs.Var(&c.HedgeBudget, "hedge-budget", "`PERCENT` of the calls of hedged calls (x-fanout hedge) that may get a duplicate, process-wide, e.g. 5% or 0.05; 0 turns hedging off")
	fs.Var(&c.Coalesce, "coalesce", "whether the coalescing and response caching that x-fanout declares (coalesce, cache) run: `on|off`")
	fs.StringVar(&c.Tokens, "tokens", c.Tokens, "tokens `FILE` (YAML); none: a development token is generated and printed on stdout (or written to -dev-token-file)")
	fs.StringVar(&c.Auth, "auth", c.Auth, "bearer tokens on /v2: on, or off (labs only: anyone gets in, unlimited)")
	fs.StringVar(&c.Redis, "redis", c.Redis, "store of rate limits and idempotency records shared by replicas, `URL` redis://HOST:PORT/DB, or through Redis Sentinel redis://SENTINEL:PORT/DB?master_name=NAME&addr=SENTINEL2:PORT&addr=...; none: in memory. Its password is best given apart: "+RedisPasswordEnv+" or -redis-password-file")
	fs.StringVar(&c.RedisPasswordFile, "redis-password-file", c.RedisPasswordFile, "`FILE` holding the password of -redis (one line); none: "+RedisPasswordEnv+" if set, else the URL's")
	fs.Int64Var(&c.IdempotencyMaxBytes, "idempotency-max-bytes", c.IdempotencyMaxBytes, "`BYTES` of Idempotency-Key records kept in memory (without -redis); past them, the least likely to be asked for again are evicted")
	fs.IntVar(&c.IdempotencyQuota, "idempotency-quota", c.IdempotencyQuota, "Idempotency-Key records one token may hold at once; a create with a new key beyond them gets 429")
	fs.Var(&c.RateLimitOnStoreError, "ratelimit-on-store-error", "what a request gets when the store cannot check its rate limit: `open|closed`; open lets it through unchecked (counted in fanout_store_unchecked_total), closed answers 503")
	fs.Var(&c.IdempotencyOnStoreError, "idempotency-on-store-error", "what a create with an Idempotency-Key gets when the store cannot claim the key: `closed|open`; closed answers 503 with Retry-After (safe to retry), open performs it without a record to replay")
	fs.IntVar(&c.Procs, "procs", c.Procs, "CPUs that run the gateway's code at once (GOMAXPROCS); 0: Go's default, the CPUs the process may use")
	fs.DurationVar(&c.Work, "work", c.Work, "labs only: CPU time each fan-out request spends in the gateway before its backend calls, a stand-in for a heavier gateway's own work (0: none)")
	fs.BoolVar(&c.Pprof, "pprof", c.Pprof, "serve the Go profiler under /debug/pprof/ on the admin listener (no authentication: keep that listener private)")
	fs.StringVar(&c.OTLPEndpoint, "otlp-endpoint", c.OTLPEndpoint, "OTLP/HTTP collector `URL` traces are sent to, e.g. http://127.0.0.1:4318 (a URL without a path gets /v1/traces); none: "+tracing.EnvEndpoint+" if set, else no tracing. Wins over the environment")
	fs.Var(&c.TraceSample, "trace-sample", "`RATIO` of the traces the gateway starts that are recorded, e.g. 1% or 0.01; a request whose client sent a traceparent follows the client's decision. None: "+tracing.EnvSampler+"/"+tracing.EnvSamplerArg+" if set, else every trace. Wins over the environment")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log `FORMAT` on stderr: text (key=value) or json (one object a line)")
	fs.Var(&c.AccessLogSample, "access-log-sample", "`RATIO` of successful requests that get an access line, e.g. 1% or 0.01 (0: none, 1: all); every failed request (status 400 and above) gets one")
	fs.StringVar(&c.DevTokenFile, "dev-token-file", c.DevTokenFile, "without -tokens, write the development token to `FILE` (mode 0600) instead of printing it on stdout")
	fs.Var(backendFlag(c.Backends), "backend", "backend address `NAME=HOST:PORT`, repeatable; replaces the default address of NAME, one of the backends the document calls")

	fs.DurationVar(&c.ReadTimeout, "read-timeout", c.ReadTimeout, "time to receive a whole request, headers and body, from its first byte (on a new connection, from its opening); slower clients get 408")
	fs.DurationVar(&c.HeaderTimeout, "header-timeout", c.HeaderTimeout, "time to receive a request's line and headers, from a new connection's opening or a keep-alive request's first byte; a connection that sends nothing in it is closed (408)")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", c.WriteTimeout, "time to send a whole response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", c.IdleTimeout, "how long an idle keep-alive connection stays open")
	fs.IntVar(&c.MaxRequestBodySize, "max-body-size", c.MaxRequestBodySize, "largest request body in `BYTES`; larger get 413")
	fs.IntVar(&c.MaxHeaderSize, "max-header-size", c.MaxHeaderSize, "largest request line plus headers in `BYTES`; larger get 431")
	fs.IntVar(&c.MaxClientConns, "max-client-conns", c.MaxClientConns, "client connections served at once; a further one takes the slot of the longest idle keep-alive connection, or gets 503")
	fs.IntVar(&c.MaxConnsPerIP, "max-conns-per-ip", c.MaxConnsPerIP, "connections from one client address; a further one takes the slot of the address's longest silent or idle one, or gets 429; 0: no limit. Behind a proxy every client has the proxy's address: set 0 (or above the proxy's connections to the gateway) and limit clients at the proxy")
	fs.IntVar(&c.MaxBodyBytesInFlight, "max-body-bytes-in-flight", c.MaxBodyBytesInFlight, "request body `BYTES` received at once, reserved by Content-Length before a body is read; further bodies get 503")
	c.Resilience.flags(fs)
	fs.IntVar(&c.MaxBodyBytesPerIP, "max-body-bytes-per-ip", c.MaxBodyBytesPerIP, "request body `BYTES` received at once from one client address; further bodies get 429")
	return fs
}

// Parse reads the settings from args (without the program name): defaults,
// then the -config file if given, then the flags set explicitly. It returns
// flag.ErrHelp for -h, after writing the usage to out.
func Parse(args []string, out io.Writer) (Config, error) {
	c := Default()
	var file string
	fs := c.flags(&file, out)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	if file != "" {
		// The same flags once more, bound over the file's settings: only
		// those given on the command line replace what the file says.
		var err error
		if c, err = Load(file); err != nil {
			return Config{}, err
		}
		if err := c.flags(&file, out).Parse(args); err != nil {
			return Config{}, err
		}
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Load reads a YAML file over the defaults. Unknown fields are errors.
func Load(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("read config: %w", err)
	}
	c, err := Decode(data)
	if err != nil {
		return Config{}, fmt.Errorf("config %s: %w", path, err)
	}
	return c, nil
}

// Decode reads YAML settings over the defaults: a key the YAML gives
// replaces the default, even with a zero value. Backends named in the YAML
// are added to the default ones or replace them; one without an addr keeps
// the default address.
func Decode(data []byte) (Config, error) {
	c := Default()
	backends := c.Backends
	// Decoded into an empty map, each backend of the file is whole, and
	// the merge below can tell an addr left out from one given.
	c.Backends = nil
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	for name, b := range c.Backends {
		if b.Addr == "" {
			b.Addr = backends[name].Addr
		}
		backends[name] = b
	}
	c.Backends = backends
	return c, nil
}

// RedisPassword returns Redis's password from RedisPasswordFile, else
// from the environment's RedisPasswordEnv, else "" (the URL's, if any,
// stands). A file's trailing line break is not part of the password.
func (c Config) RedisPassword() (string, error) {
	if c.RedisPasswordFile == "" {
		return os.Getenv(RedisPasswordEnv), nil
	}
	b, err := os.ReadFile(c.RedisPasswordFile)
	if err != nil {
		return "", fmt.Errorf("redis_password_file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("redis_password_file: %s is empty", c.RedisPasswordFile)
	}
	return pw, nil
}

// Validate reports the first setting out of range, naming it.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: empty")
	case c.AdminAddr == "":
		return errors.New("admin_addr: empty, want HOST:PORT or off")
	case !slices.Contains(fanout.Modes, c.Mode):
		return fmt.Errorf("mode: %q is not one of %s", c.Mode, strings.Join(fanout.Modes, ", "))
	case c.PoolSize < 1:
		return fmt.Errorf("pool_size: %d, want at least 1", c.PoolSize)
	case c.Deadline <= 0:
		return fmt.Errorf("deadline: %s, want more than 0", c.Deadline)
	case c.Grace < 0:
		return fmt.Errorf("grace: %s is negative", c.Grace)
	case c.DrainDelay < 0:
		return fmt.Errorf("drain_delay: %s is negative", c.DrainDelay)
	case (c.TLSCert == "") != (c.TLSKey == ""):
		return errors.New("tls_cert and tls_key: give both, or neither for plain HTTP")
	case c.MaxConns < 1:
		return fmt.Errorf("max_conns: %d, want at least 1", c.MaxConns)
	case c.Options.Timeout < 0:
		return fmt.Errorf("backend_timeout: %s is negative", c.Options.Timeout)
	case c.ReadTimeout <= 0:
		return fmt.Errorf("read_timeout: %s, want more than 0", c.ReadTimeout)
	case c.HeaderTimeout <= 0:
		return fmt.Errorf("header_timeout: %s, want more than 0", c.HeaderTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout: %s, want more than 0", c.WriteTimeout)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("idle_timeout: %s, want more than 0", c.IdleTimeout)
	case c.MaxRequestBodySize < 1:
		return fmt.Errorf("max_body_size: %d, want at least 1", c.MaxRequestBodySize)
	case c.MaxHeaderSize < 1024:
		return fmt.Errorf("max_header_size: %d, want at least 1024", c.MaxHeaderSize)
	case c.MaxClientConns < 1:
		return fmt.Errorf("max_client_conns: %d, want at least 1", c.MaxClientConns)
	case c.Procs < 0:
		return fmt.Errorf("procs: %d is negative", c.Procs)
	case c.Work < 0:
		return fmt.Errorf("work: %s is negative", c.Work)
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("max_conns_per_ip: %d is negative", c.MaxConnsPerIP)
	// A budget smaller than one body would refuse every body that size.
	case c.MaxBodyBytesPerIP < c.MaxRequestBodySize:
		return fmt.Errorf("max_body_bytes_per_ip: %d, want at least max_body_size (%d)", c.MaxBodyBytesPerIP, c.MaxRequestBodySize)
	case c.MaxBodyBytesInFlight < c.MaxBodyBytesPerIP:
		return fmt.Errorf("max_body_bytes_in_flight: %d, want at least max_body_bytes_per_ip (%d)", c.MaxBodyBytesInFlight, c.MaxBodyBytesPerIP)
	}
	if err := c.Resilience.validate(); err != nil {
		return err
	}
	switch {
	case c.Auth != AuthOn && c.Auth != AuthOff:
		return fmt.Errorf("auth: %q, want on or off", c.Auth)
	case c.IdempotencyMaxBytes < 1:
		return fmt.Errorf("idempotency_max_bytes: %d, want at least 1", c.IdempotencyMaxBytes)
	case c.IdempotencyQuota < 1:
		return fmt.Errorf("idempotency_quota: %d, want at least 1", c.IdempotencyQuota)
	case c.RateLimitOnStoreError != FailOpen && c.RateLimitOnStoreError != FailClosed:
		return fmt.Errorf("ratelimit_on_store_error: %q, want open or closed", c.RateLimitOnStoreError)
	case c.IdempotencyOnStoreError != FailOpen && c.IdempotencyOnStoreError != FailClosed:
		return fmt.Errorf("idempotency_on_store_error: %q, want closed or open", c.IdempotencyOnStoreError)
	case c.Redis != "" && !strings.HasPrefix(c.Redis, "redis://") && !strings.HasPrefix(c.Redis, "rediss://"):
		return fmt.Errorf("redis: %q, want redis://HOST:PORT/DB", store.RedactURL(c.Redis))
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	if c.LogFormat != LogText && c.LogFormat != LogJSON {
		return fmt.Errorf("log_format: %q, want text or json", c.LogFormat)
	}
	if c.OTLPEndpoint != "" {
		if err := tracing.CheckEndpoint(c.OTLPEndpoint); err != nil {
			return fmt.Errorf("otlp_endpoint: %w", err)
		}
	}
	if c.DevTokenFile != "" && (c.Tokens != "" || c.Auth == AuthOff) {
		return errors.New("dev_token_file: there is no development token with a tokens file or auth off")
	}
	for _, name := range slices.Sorted(maps.Keys(c.Backends)) {
		b := c.Backends[name]
		switch {
		case b.Addr == "":
			return fmt.Errorf("backends.%s.addr: empty", name)
		case !strings.Contains(b.Addr, ":"):
			return fmt.Errorf("backends.%s.addr: %q is not HOST:PORT", name, b.Addr)
		case b.MaxConns < 0:
			return fmt.Errorf("backends.%s.max_conns: %d is negative", name, b.MaxConns)
		case b.Timeout < 0:
			return fmt.Errorf("backends.%s.timeout: %s is negative", name, b.Timeout)
		}
	}
	return nil
}
