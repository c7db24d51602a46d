package stage

import (
	"bufio"
	"net"
	"testing"
	"time"
)

// namedServer is a fake gateway: it answers every line with its name, until
// stopped, which closes its connections as a gateway that shuts down does.
type namedServer struct {
	ln    net.Listener
	conns chan net.Conn
}

func startNamed(t *testing.T, name string) *namedServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &namedServer{ln: ln, conns: make(chan net.Conn, 16)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns <- c
			go func() {
				sc := bufio.NewScanner(c)
				for sc.Scan() {
					if _, err := c.Write([]byte(name + "\n")); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(s.stop)
	return s
}

// stop closes the listener and every connection.
func (s *namedServer) stop() {
	s.ln.Close()
	for {
		select {
		case c := <-s.conns:
			c.Close()
		default:
			return
		}
	}
}

// ask sends a line on c and returns the answer, "" if the connection closed.
func ask(t *testing.T, c net.Conn, r *bufio.Reader) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write([]byte("who\n")); err != nil {
		return ""
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return ""
	}
	return line[:len(line)-1]
}

// TestForwarderSwitchesTarget: the stable address sends new connections to
// the current target, a connection opened before a switch stays with its
// gateway until that gateway closes it, and then the client's next
// connection reaches the new one.
func TestForwarderSwitchesTarget(t *testing.T) {
	old, next := startNamed(t, "old"), startNamed(t, "new")
	f, err := listenForwarder("127.0.0.1:0", old.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer f.stop()
	dial := func() (net.Conn, *bufio.Reader) {
		c, err := net.Dial("tcp", f.Addr())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c, bufio.NewReader(c)
	}
	type conn struct {
		c net.Conn
		r *bufio.Reader
	}
	var c1, c2, c3 conn
	for _, step := range []struct {
		before func()
		on     *conn
		dial   bool
		want   string // "" for a closed connection
		why    string
	}{
		{nil, &c1, true, "old", "before the switch"},
		{func() { f.setTarget(next.ln.Addr().String()) }, &c1, false, "old", "a connection opened before the switch stays with its gateway"},
		{nil, &c2, true, "new", "a connection opened after the switch reaches the new gateway"},
		{old.stop, &c1, false, "", "the old gateway shut down: its client sees the close"},
		{nil, &c3, true, "new", "the client reconnects to the new gateway"},
		{f.stop, &c3, false, "", "stop closes the pipes still open"},
	} {
		if step.before != nil {
			step.before()
		}
		if step.dial {
			step.on.c, step.on.r = dial()
		}
		if got := ask(t, step.on.c, step.on.r); got != step.want {
			t.Errorf("%s: answered %q, want %q", step.why, got, step.want)
		}
	}
	// stop closed the listener too.
	if c, err := net.DialTimeout("tcp", f.Addr(), time.Second); err == nil {
		c.Close()
		t.Error("after stop the stable address still accepts connections")
	}
}
