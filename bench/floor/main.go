// Command floor is the bench's CPU floor: a bare fan-out of Fanout's
// results page on fasthttp, the same four backend calls in the same graph
// as the gateway's plan, composed by the gateway's own composition, and
// nothing else. Like the critical path for latency, its CPU time per page
// is what no gateway's code can beat; the bench measures the gateway's
// beside it.
//
// It reads and writes its sockets as the gateway does, with raw system
// calls (-sockets raw): what the gateway costs beyond it is then the code
// the gateway runs, not how either reaches the kernel. -sockets net reads
// and writes them through net.Conn, as fasthttp does by itself: about 1.4
// times the CPU on one CPU, mostly the scheduler's hand-offs of each system
// call.
//
// It prints "LISTEN floor=HOST:PORT" on standard output once it serves,
// and stops on SIGINT or SIGTERM once the requests in progress end.
//
// Usage:
//
//	floor -addr 127.0.0.1:0 -backend experiments=HOST:PORT -backend layers=HOST:PORT \
//	      -backend projects=HOST:PORT -backend results=HOST:PORT
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/valyala/fasthttp"

	"fanout/gateway/assembly"
)

// Defaults of the flags: the gateway's own (its -max-backend-conns and
// -deadline), so that the floor calls the backends as the gateway does.
const (
	DefaultMaxConns = 256
	DefaultDeadline = 2 * time.Second
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr, nil))
}

// backendFlag collects -backend NAME=HOST:PORT.
type backendFlag map[string]string

func (b backendFlag) String() string { return fmt.Sprint(map[string]string(b)) }

func (b backendFlag) Set(v string) error {
	name, addr, ok := strings.Cut(v, "=")
	if !ok || name == "" || addr == "" {
		return fmt.Errorf("want NAME=HOST:PORT, found %q", v)
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return fmt.Errorf("backend %s: %w", name, err)
	}
	b[name] = addr
	return nil
}

// run serves until a signal or until stop is closed (nil: signals only),
// and returns the exit status: 2 for bad flags, 1 if it cannot serve.
func run(args []string, stdout, stderr io.Writer, stop <-chan struct{}) int {
	fs := flag.NewFlagSet("floor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:0", "listen `HOST:PORT` (port 0 picks a free port)")
	backends := backendFlag{}
	fs.Var(backends, "backend", "backend `NAME=HOST:PORT`, repeatable: "+strings.Join(backendNames, ", ")+", each required")
	maxConns := fs.Int("max-conns", DefaultMaxConns, "maximum connections per backend")
	deadline := fs.Duration("deadline", DefaultDeadline, "deadline of one page")
	sockets := fs.String("sockets", "raw", "how sockets are read and written: `raw` (system calls made as the gateway makes them) or net (net.Conn, as fasthttp does)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if *sockets != "raw" && *sockets != "net" {
		fmt.Fprintf(stderr, "floor: -sockets: want raw or net, found %q\n", *sockets)
		return 2
	}
	raw := *sockets == "raw"
	f, err := newFloor(backends, *maxConns, *deadline, raw)
	if err != nil {
		fmt.Fprintf(stderr, "floor: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintf(stderr, "floor: %v\n", err)
		return 1
	}
	var inFlight atomic.Int64
	srv := &fasthttp.Server{Name: "fanout-floor", Handler: func(ctx *fasthttp.RequestCtx) {
		inFlight.Add(1)
		defer inFlight.Add(-1)
		f.serve(ctx)
	}}
	served := make(chan error, 1)
	serving := ln
	if raw {
		serving = assembly.WrapListener(ln)
	}
	go func() { served <- srv.Serve(serving) }()
	fmt.Fprintf(stdout, "LISTEN floor=%s\n", ln.Addr())

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	defer signal.Stop(sig)
	select {
	case <-sig:
	case <-stop:
	case err := <-served:
		fmt.Fprintf(stderr, "floor: serve: %v\n", err)
		return 1
	}
	// Stop accepting, then end once no page is in flight: the load
	// generator's keep-alive connections may stay open, and one that has
	// not sent a request yet would hold fasthttp's Shutdown for seconds
	// (it counts a connection as idle only 5 s after it opened). Every
	// page is bounded by the deadline, so the wait is too; what is still
	// open then carries no request, and closes with the process.
	if err := ln.Close(); err != nil {
		fmt.Fprintf(stderr, "floor: close: %v\n", err)
		return 1
	}
	if !waitIdle(&inFlight, *deadline+time.Second) {
		fmt.Fprintf(stderr, "floor: %d pages still in flight after the deadline\n", inFlight.Load())
		return 1
	}
	return 0
}

// waitIdle waits until n is 0, for at most d, and reports whether it was.
func waitIdle(n *atomic.Int64, d time.Duration) bool {
	for end := time.Now().Add(d); n.Load() > 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			return false
		}
	}
	return true
}
