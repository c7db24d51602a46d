package backendtest

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// RawRequest is one request a Raw backend received: the request line and
// the headers exactly as they came, and the body.
type RawRequest struct {
	Line    string            // e.g. "GET /layers/7 HTTP/1.1", without CRLF
	Headers map[string]string // canonical names, e.g. "X-Request-Id"
	Body    []byte
}

// Path is the request target of the request line, as sent.
func (r RawRequest) Path() string {
	f := strings.Fields(r.Line)
	if len(f) < 2 {
		return ""
	}
	return f[1]
}

// A RawAnswer writes whatever bytes it likes on conn in answer to req: a
// well-formed response, two, half of one, or nothing. Returning false closes
// the connection.
type RawAnswer func(conn net.Conn, req RawRequest) bool

// Raw is a backend that speaks HTTP/1.1 by hand on 127.0.0.1, so that a
// test can send exactly the bytes it wants and see exactly the bytes the
// gateway sent: no server library normalises or repairs anything. It is
// safe for concurrent use.
type Raw struct {
	ln     net.Listener
	answer RawAnswer
	mu     sync.Mutex
	reqs   []RawRequest
	conns  map[net.Conn]bool
	wg     sync.WaitGroup
}

// NewRaw listens on 127.0.0.1 port 0 and answers every request with answer.
func NewRaw(answer RawAnswer) (*Raw, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("raw backend: %w", err)
	}
	r := &Raw{ln: ln, answer: answer, conns: map[net.Conn]bool{}}
	r.wg.Add(1)
	go r.accept()
	return r, nil
}

// Addr is the address to point the gateway's backends at.
func (r *Raw) Addr() string { return r.ln.Addr().String() }

// Requests returns the requests received so far, in order of arrival.
func (r *Raw) Requests() []RawRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]RawRequest(nil), r.reqs...)
}

// Close stops listening, closes every connection and waits for them.
func (r *Raw) Close() {
	_ = r.ln.Close()
	r.mu.Lock()
	for c := range r.conns {
		_ = c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
}

func (r *Raw) accept() {
	defer r.wg.Done()
	for {
		c, err := r.ln.Accept()
		if err != nil {
			return
		}
		r.mu.Lock()
		r.conns[c] = true
		r.mu.Unlock()
		r.wg.Add(1)
		go r.serve(c)
	}
}

func (r *Raw) serve(c net.Conn) {
	defer r.wg.Done()
	defer func() {
		_ = c.Close()
		r.mu.Lock()
		delete(r.conns, c)
		r.mu.Unlock()
	}()
	br := bufio.NewReader(c)
	for {
		req, err := readRaw(br)
		if err != nil {
			return
		}
		r.mu.Lock()
		r.reqs = append(r.reqs, req)
		r.mu.Unlock()
		if !r.answer(c, req) {
			return
		}
	}
}

func readRaw(br *bufio.Reader) (RawRequest, error) {
	line, err := br.ReadString('\n')
	if err != nil {
		return RawRequest{}, err
	}
	req := RawRequest{Line: strings.TrimRight(line, "\r\n"), Headers: map[string]string{}}
	for {
		h, err := br.ReadString('\n')
		if err != nil {
			return RawRequest{}, err
		}
		h = strings.TrimRight(h, "\r\n")
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		req.Headers[textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	if n, err := strconv.Atoi(req.Headers["Content-Length"]); err == nil && n > 0 {
		req.Body = make([]byte, n)
		if _, err := io.ReadFull(br, req.Body); err != nil {
			return RawRequest{}, err
		}
	}
	return req, nil
}

// RawResponse returns the bytes of an HTTP/1.1 response with a JSON body
// and a Content-Length.
func RawResponse(status int, body string) []byte {
	return []byte(fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		status, statusText(status), len(body), body))
}

// AnswerTwice returns a RawAnswer that writes the response for each
// request twice, the second a moment later in its own segment, as a
// confused backend would send it, and counts the second answers in
// seconds, so that a test can wait for each to arrive.
func AnswerTwice(response func(RawRequest) []byte, seconds *atomic.Int64) RawAnswer {
	return func(conn net.Conn, req RawRequest) bool {
		r := response(req)
		if _, err := conn.Write(r); err != nil {
			return false
		}
		time.Sleep(time.Millisecond)
		_, err := conn.Write(r)
		seconds.Add(1)
		return err == nil
	}
}

// DripFeed returns a RawAnswer that announces a 200 response with a JSON
// body of length bytes, then sends that body one byte every interval: an
// answer that arrives, but too slowly to finish before any sane deadline.
// It stops at the first write that fails, when the client has given up.
func DripFeed(length int, every time.Duration) RawAnswer {
	return func(conn net.Conn, _ RawRequest) bool {
		head := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n{", length)
		if _, err := conn.Write([]byte(head)); err != nil {
			return false
		}
		for range length - 1 {
			time.Sleep(every)
			if _, err := conn.Write([]byte(" ")); err != nil {
				return false
			}
		}
		return false
	}
}

func statusText(status int) string {
	switch status {
	case 200:
		return "OK"
	case 201:
		return "Created"
	case 204:
		return "No Content"
	}
	return "Status"
}
