// Command mockbackends runs the four mock backend services of Fanout
// (experiments, layers, projects, results), each on its own port, with
// configurable latency, fault and capacity models. See -h.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"fanout/mockbackends/dataset"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

const usage = `mockbackends runs the mock backend services: experiments, layers, projects
and results, each on its own port. When every listener is up it prints one line
on stdout with the bound addresses:

  LISTEN experiments=127.0.0.1:9101 layers=127.0.0.1:9102 projects=127.0.0.1:9103 results=127.0.0.1:9104

Logs go to stderr. SIGINT or SIGTERM stops it gracefully (exit status 0).

Routes: GET /experiments/{id}, GET /experiments?project_id=&page=&per_page=,
POST /experiments, GET /layers/{id}, GET /projects/{id},
GET /projects/{id}/settings, GET /results/{experiment_id}.
Admin API on every port: GET|PUT /_admin/config (JSON of the service's model),
GET /_admin/stats, POST /_admin/reset, GET /_admin/health.

Default models: fixed latency experiments 20ms, layers 15ms, projects 10ms,
results 40ms; no faults; no capacity cap.

Latency SPEC (short form): none | fixed:20ms | uniform:min=5ms,max=15ms |
normal:mean=20ms,stddev=5ms | lognormal:p50=40ms,p99=200ms, each optionally
followed by ,spike=PROBABILITY@DELAY (e.g. ,spike=0.01@300ms).

Examples:
  mockbackends
  mockbackends -no-latency
  mockbackends -latency results=lognormal:p50=40ms,p99=200ms -latency layers.get_layer=fixed:5ms
  mockbackends -config backends.yaml -seed 7
  mockbackends -experiments-addr 127.0.0.1:0 -layers-addr 127.0.0.1:0 -projects-addr 127.0.0.1:0 -results-addr 127.0.0.1:0
  curl -X PUT localhost:9104/_admin/config -d '{"latency":"fixed:100ms","faults":{"error":0.05}}'

Flags:
`

// latencyFlags collects repeated -latency SERVICE[.ROUTE]=SPEC flags.
type latencyFlags []string

func (l *latencyFlags) String() string     { return strings.Join(*l, " ") }
func (l *latencyFlags) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "mockbackends:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("mockbackends", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), usage)
		fs.PrintDefaults()
	}
	addrs := map[string]*string{}
	for i, name := range model.Services {
		addrs[name] = fs.String(name+"-addr", fmt.Sprintf("127.0.0.1:%d", 9101+i), "listen `address` of the "+name+" service (port 0: any free port)")
	}
	configFile := fs.String("config", "", "YAML `file` with the services' models under a top-level backends: key")
	var latencies latencyFlags
	fs.Var(&latencies, "latency", "set a latency model: `SERVICE[.ROUTE]=SPEC`, e.g. results=lognormal:p50=40ms,p99=200ms (repeatable; applied after -config)")
	noLatency := fs.Bool("no-latency", false, "turn every latency off")
	seed := fs.Uint64("seed", 1, "random `seed` of the data, latencies and faults")
	projects := fs.Int("projects", dataset.DefaultProjects, "number of projects")
	perProject := fs.Int("experiments-per-project", dataset.DefaultExperimentsPerProject, "number of experiments of each project")
	logLevel := fs.String("log-level", "info", "log `level`: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q (see -h)", fs.Args())
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("-log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if *projects < 1 || *perProject < 1 {
		return fmt.Errorf("-projects and -experiments-per-project must be at least 1")
	}

	cfg, err := buildConfig(*configFile, latencies)
	if err != nil {
		return err
	}
	opts := mock.Options{
		Config:                cfg,
		Addrs:                 map[string]string{},
		Seed:                  *seed,
		NoLatency:             *noLatency,
		Projects:              *projects,
		ExperimentsPerProject: *perProject,
		Logger:                log,
	}
	for name, a := range addrs {
		opts.Addrs[name] = *a
	}
	// Listen for signals before announcing the ports: whoever reads the
	// LISTEN line may signal at once.
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	cluster, err := mock.Start(opts)
	if err != nil {
		return err
	}
	line := "LISTEN"
	for _, name := range model.Services {
		line += " " + name + "=" + cluster.Addr(name)
	}
	fmt.Fprintln(stdout, line)

	got := <-sig
	log.Info("stopping", "signal", got.String())
	if err := cluster.Close(); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	log.Info("stopped")
	return nil
}

// buildConfig reads the config file (if any) over the defaults, then
// applies the -latency flags.
func buildConfig(file string, latencies []string) (model.Config, error) {
	cfg := model.Default()
	if file != "" {
		f, err := os.Open(file)
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		fromFile, err := model.Decode(f, file)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("-config: %w", err)
		}
		for name, s := range fromFile {
			cfg[name] = s
		}
	}
	for _, l := range latencies {
		target, spec, ok := strings.Cut(l, "=")
		if !ok {
			return nil, fmt.Errorf("-latency %q: want SERVICE[.ROUTE]=SPEC, e.g. results=fixed:40ms", l)
		}
		service, route, _ := strings.Cut(strings.TrimSpace(target), ".")
		lat, err := model.ParseLatency(spec)
		if err != nil {
			return nil, fmt.Errorf("-latency %q: %w", l, err)
		}
		if err := cfg.SetLatency(service, route, lat); err != nil {
			return nil, fmt.Errorf("-latency %q: %w", l, err)
		}
	}
	return cfg, nil
}
