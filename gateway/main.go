// Command gateway is Fanout's API gateway: it serves the public API of its
// embedded OpenAPI document and fans aggregate requests out to the backend
// services. It only parses its settings, has package assembly put the
// gateway together, listens and stops on a signal. Run it with -h for its
// flags and examples.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/config"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return
		}
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

// run starts the gateway, prints the LISTEN line on stdout once it serves,
// reloads its tokens and certificate on SIGHUP, and stops it gracefully
// when ctx is done: it drains for the drain delay, then shuts down within
// the grace period.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: level}
	var handler slog.Handler = slog.NewTextHandler(stderr, opts)
	if cfg.LogFormat == config.LogJSON {
		handler = slog.NewJSONHandler(stderr, opts)
	}
	log := slog.New(handler)
	if cfg.Procs > 0 {
		runtime.GOMAXPROCS(cfg.Procs)
	}
	gw, err := assembly.New(cfg, log)
	if err != nil {
		return err
	}
	// Asked for before the gateway serves, so that a SIGHUP sent as soon
	// as the LISTEN line appears reloads rather than kills the process
	// (SIGHUP's default action).
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	addr, admin, err := gw.Listen(cfg.Addr, cfg.AdminAddr)
	if err != nil {
		return err
	}
	// Before the LISTEN line, so that whoever reads that finds the file.
	if err := writeDevToken(gw.DevToken(), cfg.DevTokenFile, log); err != nil {
		// Nobody could use the gateway without the token it cannot
		// tell: stop rather than serve in vain.
		sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
		defer cancel()
		return errors.Join(err, gw.Shutdown(sctx))
	}
	// The gateway line comes first and alone on its line: the bench and
	// the tests read the first LISTEN line for the public address.
	fmt.Fprintf(stdout, "LISTEN gateway=%s\n", addr)
	if admin != nil {
		fmt.Fprintf(stdout, "LISTEN admin=%s\n", admin)
	}
	if cfg.DevTokenFile == "" {
		printDevToken(gw.DevToken(), cfg.TLSCert != "", addr, stdout, log)
	}
	log.Info("gateway serving", "addr", addr.String(), "mode", cfg.Mode, "pool_size", cfg.PoolSize,
		"deadline", cfg.Deadline, "backends", strings.Join(gw.Backends().Describe(), " "))

	if serve(ctx, gw, hup, log) {
		drain(gw, cfg.DrainDelay, log)
	}
	log.Info("shutting down", "grace", cfg.Grace)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}

// The development token, if there is one, is the user's to see and the
// log's never: logs are collected, shipped and kept where a secret must not
// go. The log says only where the token is.

// writeDevToken writes the development token tok, if any, to file, if
// given, readable by its owner only.
func writeDevToken(tok, file string, log *slog.Logger) error {
	if tok == "" || file == "" {
		return nil
	}
	if err := writeSecret(file, tok); err != nil {
		return fmt.Errorf("dev token file: %w", err)
	}
	log.Info("no -tokens file: this run's development token (every project, read-write) is in -dev-token-file", "file", file)
	return nil
}

// printDevToken prints the development token tok, if any, on stdout, after
// the LISTEN lines, with a curl line that uses it, as Jupyter prints its
// URL: secure by default, one paste to try.
func printDevToken(tok string, tls bool, addr net.Addr, stdout io.Writer, log *slog.Logger) {
	if tok == "" {
		return
	}
	scheme := "http"
	if tls {
		scheme = "https"
	}
	fmt.Fprintf(stdout, "\nNo -tokens file: this run's development token (every project, read-write) is\n"+
		"    %s\nTry:\n    curl -H 'Authorization: Bearer %s' %s://%s/v2/projects/1\n\n", tok, tok, scheme, addr)
	log.Info("no -tokens file: this run's development token (every project, read-write) is printed on stdout")
}

// writeSecret writes secret and a line break to path, created or
// truncated with mode 0600: a file that existed with a wider mode is
// narrowed first, so that the secret is never readable by others.
func writeSecret(path, secret string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return err
	}
	if _, err := f.WriteString(secret + "\n"); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// serve waits for the end of the run, reloading the gateway on each SIGHUP
// meanwhile. It reports whether the run ends on the stop signal (true), to
// drain, or because a listener failed (false), when there is nothing left
// to drain.
func serve(ctx context.Context, gw *assembly.Gateway, hup <-chan os.Signal, log *slog.Logger) bool {
	for {
		select {
		case <-gw.Failed():
			log.Error("a listener stopped: shutting down")
			return false
		case <-ctx.Done():
			return true
		case <-hup:
			if err := gw.Reload(); err != nil {
				log.Error("SIGHUP", "error", err)
			}
		}
	}
}

// drain makes /readyz answer 503 draining and the public answers carry
// Connection: close, then waits delay (unless a listener fails first), so
// that load balancers take the replica out before it stops accepting.
func drain(gw *assembly.Gateway, delay time.Duration, log *slog.Logger) {
	gw.Drain()
	log.Info("draining", "drain_delay", delay)
	if delay <= 0 {
		return
	}
	t := time.NewTimer(delay)
	defer t.Stop()
	select {
	case <-t.C:
	case <-gw.Failed():
		log.Error("a listener stopped while draining")
	}
}
