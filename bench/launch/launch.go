// Package launch builds the project's binaries once and runs them as real
// processes: it starts a program whose listeners bind port 0, learns the
// bound addresses from the LISTEN lines the program prints on standard
// output (the gateway prints its public address first and its admin
// listener on a later line), or, for a program of another project (Redis,
// HAProxy) told its address, from that address accepting connections
// (StartServing), measures the process (CPU time, peak resident
// memory) from /proc, and stops it gracefully.
//
// It also holds the one description of the project's processes: the mock
// backends with every service of model.Services on a free port
// (StartMocks), and a gateway in a mode pointed at them (StartGateway). The
// benchmark harness and the demo start their processes through it. The
// gateway's and mock backends' own tests never import it: bench depends on
// them, not the reverse.
package launch

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"
)

// DefaultStartTimeout bounds how long Start waits for the LISTEN line.
const DefaultStartTimeout = 30 * time.Second

// DefaultGrace is the grace period Stop callers use when they have no better
// idea: long enough for in-flight requests to finish.
const DefaultGrace = 5 * time.Second

// StartTimeout bounds how long Start waits for the LISTEN line. Tests may
// lower it; it is read at each Start.
var StartTimeout = DefaultStartTimeout

// listenPrefix starts the one line a program prints on standard output once
// all its listeners are up.
const listenPrefix = "LISTEN"

// Proc is a running program started by Start. Its methods are safe for
// concurrent use.
type Proc struct {
	// Addrs maps each listener's name to its bound address, as printed on
	// the LISTEN line ("gateway" -> "127.0.0.1:40123").
	Addrs map[string]string
	// Cmd is the underlying command. Callers must not call Wait on it.
	Cmd *exec.Cmd

	done    chan struct{} // closed when the process has been reaped
	waitErr error         // the result of Cmd.Wait, valid after done
	stderr  *tailBuffer   // the last lines of standard error, for error messages

	stopOnce sync.Once
	stopErr  error

	// later holds the listeners announced on LISTEN lines after the first
	// (the gateway's admin listener); changed is closed and replaced when
	// one arrives.
	mu      sync.Mutex
	later   map[string]string
	changed chan struct{}
}

// Start runs bin with args and waits until it prints its LISTEN line on
// standard output (or until StartTimeout, ctx or the process's exit, whichever
// comes first, which is an error naming the program and quoting the end of
// its standard error). Standard error is copied to stderr if it is not nil.
//
// When ctx is done the process gets SIGTERM, then SIGKILL after DefaultGrace:
// ctx bounds the life of the process, not only its start.
func Start(ctx context.Context, bin string, args []string, stderr io.Writer) (*Proc, error) {
	return startListening(ctx, bin, args, nil, nil, stderr)
}

// startListening is Start with env (NAME=value) added to this process's
// environment, on cpus (every CPU of this process's, if empty).
func startListening(ctx context.Context, bin string, args, env []string, cpus []int, stderr io.Writer) (*Proc, error) {
	p, out, err := spawn(ctx, bin, args, env, cpus, stderr)
	if err != nil {
		return nil, err
	}

	// One goroutine reads standard output: the first LISTEN line goes to
	// lines, everything after is drained so the program never blocks on a
	// full pipe.
	lines := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			if !strings.HasPrefix(sc.Text(), listenPrefix+" ") {
				continue
			}
			if !sent {
				lines <- sc.Text()
				sent = true
			} else if addrs, err := ParseListen(sc.Text()); err == nil {
				p.announce(addrs)
			}
		}
		// Draining the rest keeps a chatty program from blocking.
		_, _ = io.Copy(io.Discard, out)
	}()

	timer := time.NewTimer(StartTimeout)
	defer timer.Stop()
	select {
	case line := <-lines:
		addrs, err := ParseListen(line)
		if err != nil {
			_ = p.Kill()
			return nil, fmt.Errorf("start %s: %w", bin, err)
		}
		p.Addrs = addrs
		return p, nil
	case <-p.done:
		return nil, fmt.Errorf("start %s: exited before listening (%v)%s", bin, p.waitErr, p.stderr.quote())
	case <-timer.C:
		_ = p.Kill()
		return nil, fmt.Errorf("start %s: no LISTEN line within %v%s", bin, StartTimeout, p.stderr.quote())
	case <-ctx.Done():
		_ = p.Kill()
		return nil, fmt.Errorf("start %s: %w", bin, ctx.Err())
	}
}

// StartServing runs a program that does not print a LISTEN line (Redis,
// HAProxy) with args, and with env (NAME=value) added to this process's
// environment, and waits until addr, where args tell it to listen, accepts
// TCP connections; the other terms are Start's. The returned Proc's Addrs
// maps name to addr.
func StartServing(ctx context.Context, bin string, args, env []string, name, addr string, stderr io.Writer) (*Proc, error) {
	p, out, err := spawn(ctx, bin, args, env, nil, stderr)
	if err != nil {
		return nil, err
	}
	// Standard output is drained, so the program never blocks on it.
	go func() { _, _ = io.Copy(io.Discard, out) }()
	deadline := time.Now().Add(StartTimeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			_ = c.Close()
			p.Addrs = map[string]string{name: addr}
			return p, nil
		}
		select {
		case <-p.done:
			return nil, fmt.Errorf("start %s: exited before listening on %s (%v)%s", bin, addr, p.waitErr, p.stderr.quote())
		case <-ctx.Done():
			_ = p.Kill()
			return nil, fmt.Errorf("start %s: %w", bin, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = p.Kill()
			return nil, fmt.Errorf("start %s: not listening on %s within %v%s", bin, addr, StartTimeout, p.stderr.quote())
		}
	}
}

// FreeAddr returns a 127.0.0.1 address whose port was free a moment ago,
// for a program that cannot bind port 0 and tell which it got. Another
// process may take it meanwhile: callers retry a start that fails.
func FreeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("pick a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// spawn starts bin with args as Start describes, with env added to this
// process's environment, on cpus (see startOn), and returns the Proc (without addresses) and the
// process's standard output, which the caller must drain.
func spawn(ctx context.Context, bin string, args, env []string, cpus []int, stderr io.Writer) (*Proc, io.Reader, error) {
	tail := &tailBuffer{max: 8 << 10}
	var errw io.Writer = tail
	if stderr != nil {
		errw = io.MultiWriter(tail, stderr)
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stderr = errw
	if len(env) > 0 {
		cmd.Env = append(os.Environ(), env...)
	}
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = DefaultGrace
	setParentDeathSignal(cmd)
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := startOn(cmd, cpus); err != nil {
		return nil, nil, fmt.Errorf("start %s: %w", bin, err)
	}
	p := &Proc{Cmd: cmd, done: make(chan struct{}), stderr: tail, later: map[string]string{}, changed: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	return p, out, nil
}

// ParseListen parses a LISTEN line: "LISTEN name=host:port name=host:port".
func ParseListen(line string) (map[string]string, error) {
	fields := strings.Fields(line)
	if len(fields) < 2 || fields[0] != listenPrefix {
		return nil, fmt.Errorf("parse listen line %q: want %q followed by name=address pairs", line, listenPrefix)
	}
	addrs := make(map[string]string, len(fields)-1)
	for _, f := range fields[1:] {
		name, addr, ok := strings.Cut(f, "=")
		if !ok || name == "" || addr == "" {
			return nil, fmt.Errorf("parse listen line %q: %q is not name=address", line, f)
		}
		if _, dup := addrs[name]; dup {
			return nil, fmt.Errorf("parse listen line %q: %q appears twice", line, name)
		}
		addrs[name] = addr
	}
	return addrs, nil
}

// Addr returns the bound address of the named listener, or "" if the program
// did not announce one. A listener announced on a later LISTEN line than the
// first (the gateway's admin listener) is waited for up to a second.
func (p *Proc) Addr(name string) string {
	if a, ok := p.Addrs[name]; ok {
		return a
	}
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	for {
		p.mu.Lock()
		a, changed := p.later[name], p.changed
		p.mu.Unlock()
		if a != "" {
			return a
		}
		select {
		case <-changed:
		case <-timer.C:
			return ""
		case <-p.done:
			return ""
		}
	}
}

// announce records the listeners of a later LISTEN line.
func (p *Proc) announce(addrs map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	maps.Copy(p.later, addrs)
	close(p.changed)
	p.changed = make(chan struct{})
}

// Pid returns the process id.
func (p *Proc) Pid() int { return p.Cmd.Process.Pid }

// Done is closed once the process has exited and been reaped.
func (p *Proc) Done() <-chan struct{} { return p.done }

// Stop sends SIGTERM, waits up to grace for the process to exit, then sends
// SIGKILL. It returns an error if the process did not exit with status 0 on
// its own (including a SIGKILL after the grace period). Calling Stop again
// returns the first result.
func (p *Proc) Stop(grace time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(grace) })
	return p.stopErr
}

func (p *Proc) stop(grace time.Duration) error {
	name := p.Cmd.Path
	select {
	case <-p.done:
		// It exited before Stop, by itself or because its context ended
		// (then Wait reports the context's error even if the process
		// stopped cleanly on SIGTERM): report how, unless it was clean.
		if p.Cmd.ProcessState != nil && p.Cmd.ProcessState.Success() {
			return nil
		}
		if p.waitErr != nil {
			return fmt.Errorf("stop %s: had already exited: %w%s", name, p.waitErr, p.stderr.quote())
		}
		return nil
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("stop %s: %w", name, err)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.done:
		if p.waitErr != nil {
			return fmt.Errorf("stop %s: %w%s", name, p.waitErr, p.stderr.quote())
		}
		return nil
	case <-timer.C:
		_ = p.Kill()
		return fmt.Errorf("stop %s: still running %v after SIGTERM, killed", name, grace)
	}
}

// Kill sends SIGKILL and waits until the process is reaped; a process
// that has already exited is not an error.
func (p *Proc) Kill() error {
	if err := p.Cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return err
	}
	<-p.done
	return nil
}

// CPUTime returns the user plus system CPU time the process has used so far,
// from /proc/PID/stat (all threads). After the process has exited it returns
// the final figure from the kernel's accounting.
func (p *Proc) CPUTime() (time.Duration, error) {
	select {
	case <-p.done:
		st := p.Cmd.ProcessState
		return st.UserTime() + st.SystemTime(), nil
	default:
	}
	d, err := ReadCPUTime(p.Pid())
	if err != nil {
		select {
		case <-p.done: // it exited between the two checks
			st := p.Cmd.ProcessState
			return st.UserTime() + st.SystemTime(), nil
		default:
		}
		return 0, err
	}
	return d, nil
}

// PeakRSS returns the peak resident set size in bytes (VmHWM of
// /proc/PID/status). After the process has exited it returns ru_maxrss.
func (p *Proc) PeakRSS() (int64, error) {
	select {
	case <-p.done:
		return exitedMaxRSS(p.Cmd.ProcessState), nil
	default:
	}
	n, err := ReadPeakRSS(p.Pid())
	if err != nil {
		select {
		case <-p.done:
			return exitedMaxRSS(p.Cmd.ProcessState), nil
		default:
		}
		return 0, err
	}
	return n, nil
}

// RSS returns the current resident set size in bytes (VmRSS), to watch
// memory over a long run. It fails once the process has exited.
func (p *Proc) RSS() (int64, error) { return ReadRSS(p.Pid()) }

// Stderr returns the last few kilobytes the process wrote to standard error.
func (p *Proc) Stderr() string { return p.stderr.String() }

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(b []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, b...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(b), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// quote formats the tail for an error message: empty, or ": stderr: ...".
func (t *tailBuffer) quote() string {
	s := strings.TrimSpace(t.String())
	if s == "" {
		return ""
	}
	if i := strings.LastIndexByte(s[:max(0, len(s)-2048)], '\n'); len(s) > 2048 && i >= 0 {
		s = s[i+1:]
	}
	return "; stderr:\n" + string(bytes.TrimSpace([]byte(s)))
}
