// Package redistest runs a real redis-server for tests: on a free
// 127.0.0.1 port, without persistence, stopped when the test ends. A
// machine without redis-server fails the test with how to install it: a
// skipped store test is a test that never runs.
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Server is a running redis-server.
type Server struct {
	Addr string
	cmd  *exec.Cmd
	// bin and args start it again (Restart); ready is the line of its
	// log that says it accepts connections.
	bin   string
	args  []string
	ready string
}

// readyLine is what redis-server logs once it accepts connections.
const readyLine = "Ready to accept connections"

// URL is the server's URL for -redis, database 0.
func (s *Server) URL() string { return "redis://" + s.Addr + "/0" }

// Start starts redis-server until t ends, with the extra arguments args
// (e.g. "--requirepass", "secret").
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatalf("redis-server not found (%v): install it, e.g. apt-get install -y redis-server", err)
	}
	dir := t.TempDir()
	return startOn(t, bin, readyLine, func(port int) []string {
		return append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", dir}, args...)
	})
}

// startOn starts bin with the arguments of a free port until t ends, and
// waits until its log says ready.
func startOn(t testing.TB, bin, ready string, args func(port int) []string) *Server {
	t.Helper()
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin, ready: ready, args: args(port)}
		if err := s.start(); err != nil {
			t.Log(err)
			continue // most likely the port was taken meanwhile
		}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatalf("%s did not start on any of 5 free ports", bin)
	return nil
}

// Restart starts a stopped server again on its address, empty (it keeps
// nothing on disk): a Redis back from an outage.
func (s *Server) Restart(t testing.TB) {
	t.Helper()
	s.Stop()
	if err := s.start(); err != nil {
		t.Fatalf("restart redis-server on %s: %v", s.Addr, err)
	}
}

// start runs redis-server and waits until it accepts connections.
func (s *Server) start() error {
	s.cmd = exec.Command(s.bin, s.args...)
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		return fmt.Errorf("redis-server: %w", err)
	}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start redis-server: %w", err)
	}
	if err := s.waitReady(out, s.ready); err != nil {
		s.kill()
		_ = s.cmd.Wait()
		return fmt.Errorf("redis-server on %s: %w", s.Addr, err)
	}
	return nil
}

// waitReady reads the server's log until it logs the line ready.
func (s *Server) waitReady(out interface{ Read([]byte) (int, error) }, ready string) error {
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), ready) {
				done <- nil
				// Drain, so that redis-server never blocks on its log.
				for sc.Scan() {
				}
				return
			}
		}
		done <- fmt.Errorf("%s exited before it was ready", s.bin)
	}()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("%s not ready after 10s", s.bin)
	}
}

// Stop stops the server (SIGTERM, then SIGKILL) and waits for it; calling
// it again does nothing.
func (s *Server) Stop() {
	if s.cmd.ProcessState != nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		s.kill()
		<-done
	}
}

// Kill kills the server at once (SIGKILL), as a crash would, and waits
// for it to end.
func (s *Server) Kill() {
	if s.cmd.ProcessState != nil {
		return
	}
	s.kill()
	_ = s.cmd.Wait()
}

func (s *Server) kill() { _ = s.cmd.Process.Kill() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
