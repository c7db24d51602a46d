package stage

import (
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// dialTimeout bounds the connection to the current gateway: on loopback
// it takes microseconds, so a slow dial is a gateway that is not there.
const dialTimeout = 2 * time.Second

// forwarder is the stage's stable gateway address: a TCP listener that pipes
// each connection it accepts to the gateway that runs at that moment. The
// stage restarts the gateway to change its mode, and the page's load and
// links keep one address throughout.
//
// A connection stays with the gateway it was opened to until either side
// closes it: a gateway being replaced finishes what it has in flight, closes
// its connections, and the clients' next connections reach its successor.
// Its methods are safe for concurrent use.
type forwarder struct {
	ln     net.Listener
	target atomic.Pointer[string]

	mu     sync.Mutex
	conns  map[net.Conn]struct{} // both ends of every pipe, to close on stop
	closed bool
	wg     sync.WaitGroup
}

// listenForwarder listens on addr (host:port; port 0 picks one) and
// forwards to target until stop.
func listenForwarder(addr, target string) (*forwarder, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen for the gateway on %s: %w", addr, err)
	}
	f := &forwarder{ln: ln, conns: map[net.Conn]struct{}{}}
	f.target.Store(&target)
	f.wg.Go(f.serve)
	return f, nil
}

// Addr is the stable address clients use.
func (f *forwarder) Addr() string { return f.ln.Addr().String() }

// setTarget sends the connections accepted from now on to target.
func (f *forwarder) setTarget(target string) { f.target.Store(&target) }

func (f *forwarder) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			// Only stop closes the listener; any other error on a
			// loopback listener (out of descriptors) passes, so the
			// stage goes on after a burst.
			if f.isClosed() {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		f.wg.Go(func() { f.pipe(c) })
	}
}

func (f *forwarder) isClosed() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.closed
}

// pipe copies between client c and a new connection to the current target
// until either side closes; then it closes both, so that the other side
// sees the close too (a gateway that shuts down makes its clients
// reconnect).
func (f *forwarder) pipe(c net.Conn) {
	up, err := net.DialTimeout("tcp", *f.target.Load(), dialTimeout)
	if err != nil {
		c.Close()
		return
	}
	if !f.track(c, up) {
		return
	}
	defer f.untrack(c, up)
	done := make(chan struct{}, 2)
	cp := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		done <- struct{}{}
	}
	go cp(up, c)
	go cp(c, up)
	<-done
	c.Close()
	up.Close()
	<-done
}

// track records a pipe's ends; false (and both closed) once stopped.
func (f *forwarder) track(c, up net.Conn) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		c.Close()
		up.Close()
		return false
	}
	f.conns[c], f.conns[up] = struct{}{}, struct{}{}
	return true
}

func (f *forwarder) untrack(c, up net.Conn) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.conns, c)
	delete(f.conns, up)
}

// stop closes the listener and every pipe, and waits for them.
func (f *forwarder) stop() {
	f.mu.Lock()
	f.closed = true
	for c := range f.conns {
		c.Close()
	}
	f.mu.Unlock()
	f.ln.Close()
	f.wg.Wait()
}
