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
	// bin and args start it again (Restart).
	bin  string
	args []string
}

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
	for range 5 {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		s := &Server{Addr: "127.0.0.1:" + strconv.Itoa(port), bin: bin,
			args: append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
				"--save", "", "--appendonly", "no", "--protected-mode", "no", "--dir", t.TempDir()}, args...)}
		if err := s.start(); err != nil {
			t.Log(err)
			continue // most likely the port was taken meanwhile
		}
		t.Cleanup(s.Stop)
		return s
	}
	t.Fatal("redis-server did not start on any of 5 free ports")
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
	if err := s.waitReady(out); err != nil {
		s.kill()
		_ = s.cmd.Wait()
		return fmt.Errorf("redis-server on %s: %w", s.Addr, err)
	}
	return nil
}

// waitReady reads redis-server's log until it accepts connections.
func (s *Server) waitReady(out interface{ Read([]byte) (int, error) }) error {
	ready := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				ready <- nil
				// Drain, so that redis-server never blocks on its log.
				for sc.Scan() {
				}
				return
			}
		}
		ready <- fmt.Errorf("redis-server exited before it was ready")
	}()
	select {
	case err := <-ready:
		return err
	case <-time.After(10 * time.Second):
		return fmt.Errorf("redis-server not ready after 10s")
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

func (s *Server) kill() { _ = s.cmd.Process.Kill() }

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
