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
	"os"
	"os/signal"
	"strings"
	"syscall"

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
// and stops it gracefully when ctx is done.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := config.Parse(args, stderr)
	if err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(cfg.LogLevel)); err != nil {
		return fmt.Errorf("log level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	gw, err := assembly.New(cfg, log)
	if err != nil {
		return err
	}
	addr, admin, err := gw.Listen(cfg.Addr, cfg.AdminAddr)
	if err != nil {
		return err
	}
	if tok := gw.DevToken(); tok != "" {
		// As Jupyter prints its URL: secure by default, one paste to try.
		// Before the LISTEN line, so that whoever reads that finds it.
		fmt.Fprintf(stderr, "\nNo -tokens file: this run's development token (every project, read-write) is\n"+
			"    %s\nTry:\n    curl -H 'Authorization: Bearer %s' http://%s/v2/projects/1\n\n", tok, tok, addr)
	}
	// The gateway line comes first and alone on its line: the bench and
	// the tests read the first LISTEN line for the public address.
	fmt.Fprintf(stdout, "LISTEN gateway=%s\n", addr)
	if admin != nil {
		fmt.Fprintf(stdout, "LISTEN admin=%s\n", admin)
	}
	log.Info("gateway serving", "addr", addr.String(), "mode", cfg.Mode, "pool_size", cfg.PoolSize,
		"deadline", cfg.Deadline, "backends", strings.Join(gw.Backends().Describe(), " "))

	select {
	case <-gw.Failed():
		log.Error("a listener stopped: shutting down")
	case <-ctx.Done():
		log.Info("shutting down", "grace", cfg.Grace)
	}
	sctx, cancel := context.WithTimeout(context.Background(), cfg.Grace)
	defer cancel()
	if err := gw.Shutdown(sctx); err != nil {
		return err
	}
	log.Info("stopped")
	return nil
}
