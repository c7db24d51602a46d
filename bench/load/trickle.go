package load

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Trickle is a slow-uploading client: Clients connections at once, each
// sending a POST whose body leaves BytesPerSecond bytes a second, one byte
// at a time, and starting another one on a new connection as soon as the
// last is answered or its connection ends, until the context ends. It is
// the tenant that holds a server's connections and body buffers for as
// long as the server lets it. The zero value is not usable: URL, Body,
// Clients and BytesPerSecond are required.
type Trickle struct {
	// URL is where the POSTs go ("http://127.0.0.1:8080/v2/experiments").
	URL string
	// Body is sent whole, slowly; it is sent as application/json with its
	// Content-Length.
	Body []byte
	// Clients is how many uploads run at once.
	Clients int
	// BytesPerSecond is the pace of each upload's body.
	BytesPerSecond int
	// Authorization, if set, is sent as the Authorization header.
	Authorization string
	// LocalAddr, if set, is the IP address the connections are made from
	// (on Linux, any of 127.0.0.0/8 reaches a loopback server: a second
	// client address on one machine).
	LocalAddr string
}

// TrickleReport counts what the uploads of a Trickle met.
type TrickleReport struct {
	// Uploads counts the uploads started (connections made).
	Uploads int `json:"uploads"`
	// Codes counts the answers by status ("408", "201"); "0" counts the
	// uploads whose connection failed or was closed without an answer. An
	// upload still running when the context ended counts in neither.
	Codes map[string]int `json:"codes"`
	// BodyBytes counts the body bytes written, over every upload.
	BodyBytes int64 `json:"body_bytes"`
}

// Run runs the uploads until ctx ends and reports what they met. It fails
// only when the Trickle is unusable; an upload that fails is data.
func (t Trickle) Run(ctx context.Context) (TrickleReport, error) {
	rep := TrickleReport{Codes: map[string]int{}}
	u, err := url.Parse(t.URL)
	if err != nil || u.Host == "" {
		return rep, fmt.Errorf("trickle: URL %q: want http://HOST:PORT/PATH", t.URL)
	}
	if t.Clients < 1 || t.BytesPerSecond < 1 || len(t.Body) == 0 {
		return rep, fmt.Errorf("trickle: need at least one client, one byte a second and a body (have %d, %d, %d bytes)", t.Clients, t.BytesPerSecond, len(t.Body))
	}
	d := net.Dialer{Timeout: 5 * time.Second}
	if t.LocalAddr != "" {
		ip := net.ParseIP(t.LocalAddr)
		if ip == nil {
			return rep, fmt.Errorf("trickle: local address %q is not an IP address", t.LocalAddr)
		}
		d.LocalAddr = &net.TCPAddr{IP: ip}
	}
	head := []byte("POST " + u.RequestURI() + " HTTP/1.1\r\nHost: " + u.Host +
		"\r\nContent-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(t.Body)) + "\r\n")
	if t.Authorization != "" {
		head = append(head, "Authorization: "+t.Authorization+"\r\n"...)
	}
	head = append(head, "\r\n"...)

	var mu sync.Mutex
	var wg sync.WaitGroup
	for range t.Clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				code, sent, started := t.upload(ctx, &d, u.Host, head)
				mu.Lock()
				rep.BodyBytes += sent
				if started {
					rep.Uploads++
				}
				if code >= 0 {
					rep.Codes[strconv.Itoa(code)]++
				}
				mu.Unlock()
				if code == 0 {
					// A server that refuses connections is not hammered:
					// the next attempt waits a little.
					sleepCtx(ctx, 100*time.Millisecond)
				}
			}
		})
	}
	wg.Wait()
	return rep, nil
}

// upload makes one slow upload. It returns the answer's status, 0 for a
// connection that failed or ended without one, or -1 when ctx ended
// first; the body bytes written; and whether the connection was made.
func (t Trickle) upload(ctx context.Context, d *net.Dialer, host string, head []byte) (int, int64, bool) {
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		if ctx.Err() != nil {
			return -1, 0, false
		}
		return 0, 0, false
	}
	defer conn.Close()
	// The answer may come before the body is sent (a server that refuses
	// slow uploads answers 408 or 413 and closes): it is read meanwhile.
	answer := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	var sent int64
	if _, err := conn.Write(head); err != nil {
		return t.outcome(ctx, conn, answer), 0, true
	}
	tick := time.NewTicker(time.Second / time.Duration(t.BytesPerSecond))
	defer tick.Stop()
	for i := range t.Body {
		select {
		case <-ctx.Done():
			return -1, sent, true
		case code := <-answer:
			return code, sent, true
		case <-tick.C:
		}
		if _, err := conn.Write(t.Body[i : i+1]); err != nil {
			return t.outcome(ctx, conn, answer), sent, true
		}
		sent++
	}
	return t.outcome(ctx, conn, answer), sent, true
}

// outcome waits for the answer of an upload whose body is sent or whose
// connection failed; ctx ending first gives -1 and closes the connection.
func (t Trickle) outcome(ctx context.Context, conn net.Conn, answer <-chan int) int {
	select {
	case code := <-answer:
		return code
	case <-ctx.Done():
		_ = conn.Close()
		return -1
	}
}

// sleepCtx waits for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
