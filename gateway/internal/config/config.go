// Package config holds the gateway's settings: defaults that work on a
// laptop, a YAML file (-config) and command-line flags, in that order of
// precedence, lowest first.
package config

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"fanout/gateway/fanout"
	"fanout/gateway/internal/server"

	"go.yaml.in/yaml/v3"
)

// Defaults, reused as the flags' defaults.
const (
	DefaultAddr = "127.0.0.1:8080"
	// DefaultAdminAddr is the admin listener's: loopback only, since
	// /metrics, /readyz and pprof are for operators.
	DefaultAdminAddr = "127.0.0.1:9090"
	// AdminOff as the admin address disables the admin listener.
	AdminOff        = "off"
	DefaultMode     = fanout.ModeConcurrent
	DefaultPoolSize = fanout.DefaultPoolSize
	DefaultDeadline = 2 * time.Second
	DefaultGrace    = 10 * time.Second
	DefaultMaxConns = 256
)

// Defaults of the limits on clients, reused as the flags' defaults.
const (
	DefaultReadTimeout    = server.DefaultReadTimeout
	DefaultWriteTimeout   = server.DefaultWriteTimeout
	DefaultIdleTimeout    = server.DefaultIdleTimeout
	DefaultMaxBodySize    = server.DefaultMaxRequestBodySize
	DefaultMaxHeaderSize  = server.DefaultMaxHeaderSize
	DefaultMaxClientConns = server.DefaultMaxClientConns

	DefaultMaxBodyBytesInFlight = server.DefaultMaxBodyBytesInFlight
	DefaultMaxBodyBytesPerIP    = server.DefaultMaxBodyBytesPerIP
)

// DefaultBackends are the backends' addresses when nothing else says.
var DefaultBackends = map[string]string{
	"experiments": "127.0.0.1:9101",
	"layers":      "127.0.0.1:9102",
	"projects":    "127.0.0.1:9103",
	"results":     "127.0.0.1:9104",
}

// Backend is one backend service.
type Backend struct {
	Addr     string        `yaml:"addr"`      // host:port
	MaxConns int           `yaml:"max_conns"` // 0: Config.MaxConns
	Timeout  time.Duration `yaml:"timeout"`   // per call; 0: Config.BackendTimeout
}

// Config is every setting of the gateway.
type Config struct {
	Addr           string             `yaml:"addr"`
	AdminAddr      string             `yaml:"admin_addr"` // operations endpoints; "off": none
	Mode           string             `yaml:"mode"`
	PoolSize       int                `yaml:"pool_size"`
	Deadline       time.Duration      `yaml:"deadline"`        // whole public request
	Grace          time.Duration      `yaml:"grace"`           // graceful shutdown
	MaxConns       int                `yaml:"max_conns"`       // per backend
	BackendTimeout time.Duration      `yaml:"backend_timeout"` // per call; 0: only the deadline
	Backends       map[string]Backend `yaml:"backends"`
	LogLevel       string             `yaml:"log_level"` // debug, info, warn, error

	// Limits on clients: slow or oversized ones must not starve the others.
	ReadTimeout    time.Duration `yaml:"read_timeout"`     // a whole request, from its first byte
	WriteTimeout   time.Duration `yaml:"write_timeout"`    // a whole response
	IdleTimeout    time.Duration `yaml:"idle_timeout"`     // between requests on a keep-alive connection
	MaxBodySize    int           `yaml:"max_body_size"`    // bytes; larger bodies get 413
	MaxHeaderSize  int           `yaml:"max_header_size"`  // bytes of request line and headers; larger get 431
	MaxClientConns int           `yaml:"max_client_conns"` // client connections served at once
	MaxConnsPerIP  int           `yaml:"max_conns_per_ip"` // 0: no per-address limit

	MaxBodyBytesInFlight int `yaml:"max_body_bytes_in_flight"` // bytes of request bodies received at once; beyond: 503
	MaxBodyBytesPerIP    int `yaml:"max_body_bytes_per_ip"`    // the same from one address; beyond: 429
}

// Default returns the settings used when nothing else is given.
func Default() Config {
	c := Config{
		Addr:      DefaultAddr,
		AdminAddr: DefaultAdminAddr,
		Mode:      DefaultMode,
		PoolSize:  DefaultPoolSize,
		Deadline:  DefaultDeadline,
		Grace:     DefaultGrace,
		MaxConns:  DefaultMaxConns,
		Backends:  map[string]Backend{},
		LogLevel:  "info",

		ReadTimeout:    DefaultReadTimeout,
		WriteTimeout:   DefaultWriteTimeout,
		IdleTimeout:    DefaultIdleTimeout,
		MaxBodySize:    DefaultMaxBodySize,
		MaxHeaderSize:  DefaultMaxHeaderSize,
		MaxClientConns: DefaultMaxClientConns,

		MaxBodyBytesInFlight: DefaultMaxBodyBytesInFlight,
		MaxBodyBytesPerIP:    DefaultMaxBodyBytesPerIP,
	}
	for name, addr := range DefaultBackends {
		c.Backends[name] = Backend{Addr: addr}
	}
	return c
}

// Usage is the text of -h.
const Usage = `Usage: gateway [flags]

Fanout's API gateway: serves the public API of gateway/openapi.yaml on
fasthttp, validates every request against it and fans aggregate requests out
to the backend services with the chosen strategy (-mode).

Prints "LISTEN gateway=HOST:PORT" on stdout once it serves, then
"LISTEN admin=HOST:PORT" for the admin listener (/metrics, /readyz, /healthz,
/debug/pprof/), unless -admin-addr off; logs go to stderr.
Stops gracefully on SIGINT or SIGTERM: in-flight requests get -grace to finish;
those still running then are answered 503 (Connection: close), their count is
logged, and the gateway exits 0.

Examples:
  gateway                                   # defaults: :8080, backends on :9101..9104
  gateway -addr 127.0.0.1:0 -mode sequential
  gateway -mode pool -pool-size 4
  gateway -backend results=10.0.0.7:9104 -backend-timeout 300ms -deadline 1s
  gateway -config gateway.yaml -mode blocking   # flags override the file

Config file (YAML, unknown fields are errors):
  addr: 127.0.0.1:8080
  admin_addr: 127.0.0.1:9090  # or off
  mode: concurrent          # sequential | staged | concurrent | pool | blocking
  pool_size: 16
  deadline: 2s
  grace: 10s
  max_conns: 256            # per backend
  backend_timeout: 0s       # per call; 0 = only the request deadline
  backends:
    results: {addr: 127.0.0.1:9104, max_conns: 64, timeout: 500ms}
  read_timeout: 10s         # limits on clients; see the flags below
  write_timeout: 10s
  idle_timeout: 60s
  max_body_size: 1048576
  max_header_size: 8192
  max_client_conns: 10000
  max_conns_per_ip: 0
  max_body_bytes_in_flight: 67108864
  max_body_bytes_per_ip: 8388608

Flags:
`

// backendFlag collects repeated -backend NAME=HOST:PORT.
type backendFlag map[string]string

func (b backendFlag) String() string {
	parts := make([]string, 0, len(b))
	for n, a := range b {
		parts = append(parts, n+"="+a)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (b backendFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("want NAME=HOST:PORT, got %q", v)
	}
	b[name] = addr
	return nil
}

// Parse reads the settings from args (without the program name): defaults,
// then the -config file if given, then the flags set explicitly. It returns
// flag.ErrHelp for -h, after writing the usage to out.
func Parse(args []string, out io.Writer) (Config, error) {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.Usage = func() {
		fmt.Fprint(out, Usage)
		fs.PrintDefaults()
	}
	d := Default()
	var (
		file     = fs.String("config", "", "YAML `FILE` with settings; flags given as well override it")
		addr     = fs.String("addr", d.Addr, "listen `HOST:PORT` (port 0 picks a free port)")
		admin    = fs.String("admin-addr", d.AdminAddr, "admin listener `HOST:PORT` for /metrics, /readyz, /healthz and pprof (port 0 picks a free port; off: none)")
		mode     = fs.String("mode", d.Mode, "fan-out `MODE`: "+strings.Join(fanout.Modes, ", "))
		poolSize = fs.Int("pool-size", d.PoolSize, "workers of the process-wide pool in -mode pool")
		deadline = fs.Duration("deadline", d.Deadline, "deadline of a whole public request")
		grace    = fs.Duration("grace", d.Grace, "how long in-flight requests may run on after SIGINT/SIGTERM; then they get 503 and the gateway exits 0")
		maxConns = fs.Int("max-conns", d.MaxConns, "maximum connections per backend")
		timeout  = fs.Duration("backend-timeout", 0, "timeout of one backend call; 0: only the request deadline")
		logLevel = fs.String("log-level", d.LogLevel, "log `LEVEL`: debug, info, warn, error")
		backends = backendFlag{}

		readTimeout    = fs.Duration("read-timeout", d.ReadTimeout, "time to receive a whole request from its first byte; slower clients get 408")
		writeTimeout   = fs.Duration("write-timeout", d.WriteTimeout, "time to send a whole response")
		idleTimeout    = fs.Duration("idle-timeout", d.IdleTimeout, "how long an idle keep-alive connection stays open")
		maxBodySize    = fs.Int("max-body-size", d.MaxBodySize, "largest request body in `BYTES`; larger get 413")
		maxHeaderSize  = fs.Int("max-header-size", d.MaxHeaderSize, "largest request line plus headers in `BYTES`; larger get 431")
		maxClientConns = fs.Int("max-client-conns", d.MaxClientConns, "client connections served at once; a further one takes the slot of the longest idle keep-alive connection, or gets 503")
		maxConnsPerIP  = fs.Int("max-conns-per-ip", d.MaxConnsPerIP, "connections from one client address; a further one takes the slot of the address's longest idle one, or gets 429; 0: no limit")
		maxBodyFlight  = fs.Int("max-body-bytes-in-flight", d.MaxBodyBytesInFlight, "request body `BYTES` received at once, reserved by Content-Length before a body is read; further bodies get 503")
		maxBodyPerIP   = fs.Int("max-body-bytes-per-ip", d.MaxBodyBytesPerIP, "request body `BYTES` received at once from one client address; further bodies get 429")
	)
	fs.Var(backends, "backend", "backend address `NAME=HOST:PORT`, repeatable (defaults: "+backendFlag(DefaultBackends).String()+")")
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected arguments: %s", strings.Join(fs.Args(), " "))
	}
	c := d
	if *file != "" {
		var err error
		if c, err = Load(*file); err != nil {
			return Config{}, err
		}
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "addr":
			c.Addr = *addr
		case "admin-addr":
			c.AdminAddr = *admin
		case "mode":
			c.Mode = *mode
		case "pool-size":
			c.PoolSize = *poolSize
		case "deadline":
			c.Deadline = *deadline
		case "grace":
			c.Grace = *grace
		case "max-conns":
			c.MaxConns = *maxConns
		case "backend-timeout":
			c.BackendTimeout = *timeout
		case "log-level":
			c.LogLevel = *logLevel
		case "read-timeout":
			c.ReadTimeout = *readTimeout
		case "write-timeout":
			c.WriteTimeout = *writeTimeout
		case "idle-timeout":
			c.IdleTimeout = *idleTimeout
		case "max-body-size":
			c.MaxBodySize = *maxBodySize
		case "max-header-size":
			c.MaxHeaderSize = *maxHeaderSize
		case "max-client-conns":
			c.MaxClientConns = *maxClientConns
		case "max-conns-per-ip":
			c.MaxConnsPerIP = *maxConnsPerIP
		case "max-body-bytes-in-flight":
			c.MaxBodyBytesInFlight = *maxBodyFlight
		case "max-body-bytes-per-ip":
			c.MaxBodyBytesPerIP = *maxBodyPerIP
		}
	})
	for name, a := range backends {
		b := c.Backends[name]
		b.Addr = a
		c.Backends[name] = b
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

// Decode reads YAML settings over the defaults. Backends named in the YAML
// are added to the default ones or replace them.
func Decode(data []byte) (Config, error) {
	c := Default()
	var file Config
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&file); err != nil && !errors.Is(err, io.EOF) {
		return Config{}, err
	}
	override(&c.Addr, file.Addr)
	override(&c.AdminAddr, file.AdminAddr)
	override(&c.Mode, file.Mode)
	override(&c.PoolSize, file.PoolSize)
	override(&c.Deadline, file.Deadline)
	override(&c.Grace, file.Grace)
	override(&c.MaxConns, file.MaxConns)
	override(&c.BackendTimeout, file.BackendTimeout)
	override(&c.LogLevel, file.LogLevel)
	override(&c.ReadTimeout, file.ReadTimeout)
	override(&c.WriteTimeout, file.WriteTimeout)
	override(&c.IdleTimeout, file.IdleTimeout)
	override(&c.MaxBodySize, file.MaxBodySize)
	override(&c.MaxHeaderSize, file.MaxHeaderSize)
	override(&c.MaxClientConns, file.MaxClientConns)
	override(&c.MaxConnsPerIP, file.MaxConnsPerIP)
	override(&c.MaxBodyBytesInFlight, file.MaxBodyBytesInFlight)
	override(&c.MaxBodyBytesPerIP, file.MaxBodyBytesPerIP)
	for name, b := range file.Backends {
		if b.Addr == "" {
			b.Addr = c.Backends[name].Addr
		}
		c.Backends[name] = b
	}
	return c, nil
}

// Validate reports the first setting out of range, naming it.
func (c Config) Validate() error {
	switch {
	case c.Addr == "":
		return errors.New("addr: empty")
	case c.AdminAddr == "":
		return errors.New("admin_addr: empty, want HOST:PORT or off")
	case !validMode(c.Mode):
		return fmt.Errorf("mode: %q is not one of %s", c.Mode, strings.Join(fanout.Modes, ", "))
	case c.PoolSize < 1:
		return fmt.Errorf("pool_size: %d, want at least 1", c.PoolSize)
	case c.Deadline <= 0:
		return fmt.Errorf("deadline: %s, want more than 0", c.Deadline)
	case c.Grace < 0:
		return fmt.Errorf("grace: %s is negative", c.Grace)
	case c.MaxConns < 1:
		return fmt.Errorf("max_conns: %d, want at least 1", c.MaxConns)
	case c.BackendTimeout < 0:
		return fmt.Errorf("backend_timeout: %s is negative", c.BackendTimeout)
	case c.ReadTimeout <= 0:
		return fmt.Errorf("read_timeout: %s, want more than 0", c.ReadTimeout)
	case c.WriteTimeout <= 0:
		return fmt.Errorf("write_timeout: %s, want more than 0", c.WriteTimeout)
	case c.IdleTimeout <= 0:
		return fmt.Errorf("idle_timeout: %s, want more than 0", c.IdleTimeout)
	case c.MaxBodySize < 1:
		return fmt.Errorf("max_body_size: %d, want at least 1", c.MaxBodySize)
	case c.MaxHeaderSize < 1024:
		return fmt.Errorf("max_header_size: %d, want at least 1024", c.MaxHeaderSize)
	case c.MaxClientConns < 1:
		return fmt.Errorf("max_client_conns: %d, want at least 1", c.MaxClientConns)
	case c.MaxConnsPerIP < 0:
		return fmt.Errorf("max_conns_per_ip: %d is negative", c.MaxConnsPerIP)
	// A budget smaller than one body would refuse every body that size.
	case c.MaxBodyBytesPerIP < c.MaxBodySize:
		return fmt.Errorf("max_body_bytes_per_ip: %d, want at least max_body_size (%d)", c.MaxBodyBytesPerIP, c.MaxBodySize)
	case c.MaxBodyBytesInFlight < c.MaxBodyBytesPerIP:
		return fmt.Errorf("max_body_bytes_in_flight: %d, want at least max_body_bytes_per_ip (%d)", c.MaxBodyBytesInFlight, c.MaxBodyBytesPerIP)
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("log_level: %q is not one of debug, info, warn, error", c.LogLevel)
	}
	for name, b := range c.Backends {
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

func validMode(m string) bool {
	for _, x := range fanout.Modes {
		if m == x {
			return true
		}
	}
	return false
}

// override sets *dst to v when the config file gave v (not the zero value),
// so a file's settings replace the defaults and keys it leaves out do not.
func override[T comparable](dst *T, v T) {
	var zero T
	if v != zero {
		*dst = v
	}
}
