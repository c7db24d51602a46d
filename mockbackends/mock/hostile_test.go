package mock

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"fanout/mockbackends/model"
)

// TestNestedFault: the nested fault answers 200 with a body of the size
// set, of nested arrays only, that is valid JSON far deeper than a
// recursive parser allows; set through the admin API like any fault.
func TestNestedFault(t *testing.T) {
	c := noLatency(t)
	for _, size := range []int{0, 64, 101} {
		cfg := fmt.Sprintf(`{"latency":{"kind":"none"},"faults":{"nested":1,"nested_size":%d}}`, size)
		if r := do(t, "PUT", url(c, "layers", "/_admin/config"), cfg); r.status != 200 {
			t.Fatalf("PUT %s: %d %s", cfg, r.status, r.body)
		}
		r := do(t, "GET", url(c, "layers", "/layers/1"), "")
		want := size
		if size == 0 {
			want = model.DefaultNestedSize
		}
		if r.status != 200 || len(r.body) != want || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("nested_size %d: status %d, %d bytes, Content-Type %q; want 200, %d bytes of JSON", size, r.status, len(r.body), r.header.Get("Content-Type"), want)
		}
		if strings.Trim(string(r.body), "[] ") != "" || r.body[0] != '[' || r.body[len(r.body)-1] != ']' {
			t.Errorf("nested_size %d: the body is not only nested arrays: %.40q", size, r.body)
		}
		depth := bytes.Count(r.body, []byte("["))
		if depth != want/2 || bytes.Count(r.body, []byte("]")) != depth {
			t.Errorf("nested_size %d: %d [ and %d ], want %d of each", size, depth, bytes.Count(r.body, []byte("]")), want/2)
		}
		// encoding/json refuses a depth over 10000: the bodies of the
		// default size are that deep; the small ones decode.
		var v any
		err := json.Unmarshal(r.body, &v)
		if deep := depth > 10000; deep != (err != nil) {
			t.Errorf("nested_size %d (depth %d): json.Unmarshal: %v", size, depth, err)
		}
	}
	if st := c.Stats("layers"); st.Errors.Nested != 3 || st.Routes[model.RouteGetLayer].Errors.Nested != 3 {
		t.Errorf("stats: %d nested (route %d), want 3", st.Errors.Nested, st.Routes[model.RouteGetLayer].Errors.Nested)
	}
}

// TestStrayFault: the stray fault sends the normal answer, and some
// milliseconds later a second answer nobody asked for on the same
// connection, then closes it. A client that sends its next request on
// the connection meanwhile reads the stray one first.
func TestStrayFault(t *testing.T) {
	c := noLatency(t)
	f := model.Faults{Stray: 1}
	if err := c.SetConfig("layers", model.Service{Latency: &model.Latency{Kind: model.KindNone}, Faults: &f}); err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", c.Addr("layers"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	read := func(what string) (*http.Response, []byte, time.Time) {
		t.Helper()
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s: body: %v", what, err)
		}
		return resp, b, time.Now()
	}
	sent := time.Now()
	fmt.Fprintf(conn, "GET /layers/1 HTTP/1.1\r\nHost: x\r\n\r\n")
	first, body, answered := read("the answer")
	if first.StatusCode != 200 || decodeJSON(t, body)["id"] != "1" {
		t.Fatalf("the answer: %d %s", first.StatusCode, body)
	}
	// The next request, on the same connection, gets the stray answer,
	// a copy of the first, not its own.
	fmt.Fprintf(conn, "GET /layers/2 HTTP/1.1\r\nHost: x\r\n\r\n")
	stray, strayBody, strayAt := read("the stray answer")
	if stray.StatusCode != 200 || !bytes.Equal(strayBody, body) {
		t.Errorf("the stray answer: %d %s, want a copy of %s", stray.StatusCode, strayBody, body)
	}
	// It came later than the answer, by about the stray delay: more than
	// half of it after the request was sent (the answer itself is
	// immediate, with no latency).
	if strayAt.Sub(sent) < model.StrayDelay/2 {
		t.Errorf("the stray answer came %v after the request, %v after the answer; want about %v", strayAt.Sub(sent), strayAt.Sub(answered), model.StrayDelay)
	}
	// Then the connection is closed: the second request is never answered.
	if resp, err := http.ReadResponse(br, nil); err == nil {
		t.Errorf("a third answer on the connection: %d", resp.StatusCode)
	}
	waitFor(t, func() bool { return c.Stats("layers").InFlight == 0 }, "the request to leave in flight")
	if st := c.Stats("layers"); st.Errors.Stray != 1 || st.Served != 1 {
		t.Errorf("stats: %d stray, %d served; want 1, 1 (the second request is swallowed)", st.Errors.Stray, st.Served)
	}
}

// TestCloseEndsStrays: a cluster closed while a stray answer waits to be
// sent closes at once, without it.
func TestCloseEndsStrays(t *testing.T) {
	c, err := Start(Options{NoLatency: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.SetConfig("layers", model.Service{Faults: &model.Faults{Stray: 1}}); err != nil {
		t.Fatal(err)
	}
	r := do(t, "GET", url(c, "layers", "/layers/1"), "")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.body)
	}
	closeWithin(t, c, 10*time.Second)
}
