package rawsock_test

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// echoEnv makes the test binary an echo server (TestMain): it answers
// every 200 bytes with 2 KB.
const echoEnv = "RAWSOCK_ECHO"

// TestMain runs the tests, or, with echoEnv set, serves as the echo of
// BenchmarkPingPong: it prints "LISTEN ADDR", answers one connection,
// and exits when it closes.
func TestMain(m *testing.M) {
	if os.Getenv(echoEnv) == "" {
		os.Exit(m.Run())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	c, err := ln.Accept()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	buf, resp := make([]byte, 200), make([]byte, 2048)
	for readFull(c, buf) {
		if _, err := c.Write(resp); err != nil {
			break
		}
	}
	os.Exit(0)
}

// echo starts the test binary as an echo server in a process of its own,
// as a gateway's peers are, and returns a connection to it.
func echo(b *testing.B) *net.TCPConn {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), echoEnv+"=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "LISTEN ")
	if err != nil || !ok {
		b.Fatalf("the echo process printed %q (%v)", line, err)
	}
	c, err := net.Dial("tcp", addr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c.(*net.TCPConn)
}

// rw is what the benchmark reads and writes through.
type rw interface {
	Read([]byte) (int, error)
	Write([]byte) (int, error)
}

// BenchmarkPingPong: a 200-byte request and a 2 KB answer over loopback,
// an echo goroutine answering, through net.Conn and through a Conn, one
// exchange every 200 µs, as a gateway's sockets see traffic with pauses
// between. It reports the process's CPU time per exchange (cpu-ns/op,
// the kernel's included, the pauses' timers too), which is where raw
// calls save: after a pause, net.Conn's first call wakes the runtime's
// monitor thread, which then takes the processor from any call still in
// the kernel at its next tick and hands it to another thread.
func BenchmarkPingPong(b *testing.B) {
	for _, kind := range []string{"net", "rawsock"} {
		b.Run(kind, func(b *testing.B) {
			a := echo(b)
			var client rw = a
			if kind == "rawsock" {
				client = raw(b, a)
			}
			req, resp := make([]byte, 200), make([]byte, 2048)
			buf := make([]byte, len(resp))
			cpu0 := processCPU()
			b.ResetTimer()
			next := time.Now()
			for b.Loop() {
				next = next.Add(200 * time.Microsecond)
				time.Sleep(time.Until(next))
				if _, err := client.Write(req); err != nil {
					b.Fatal(err)
				}
				if !readFull(client, buf) {
					b.Fatal("the echo stopped")
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(processCPU()-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

func readFull(r rw, buf []byte) bool {
	for got := 0; got < len(buf); {
		n, err := r.Read(buf[got:])
		if err != nil {
			return false
		}
		got += n
	}
	return true
}

// processCPU is the process's CPU time so far, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
