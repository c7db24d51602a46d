package server_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/config"
	"fanout/gateway/internal/problem"
	"fanout/gateway/internal/server"
	"fanout/mockbackends/mock"
	"fanout/mockbackends/model"
)

// Secrets of the tokens of the contract tests.
const (
	readerSecret  = "reader-secret"
	scopedSecret  = "scoped-secret"
	limitedSecret = "limited-secret"
	otherSecret   = "other-writer-secret"
)

// httpGateway is a gateway on a real TCP port, spoken to with net/http, as
// an API client would.
type httpGateway struct {
	base   string
	client *http.Client
}

// serveHTTP serves a gateway in front of the mocks with cfg's settings
// and the tokens file path.
func serveHTTP(t *testing.T, c *mock.Cluster, tokens string, edit func(*config.Config)) *httpGateway {
	t.Helper()
	cfg := config.Default()
	cfg.Backends = config.Backends(c.Addrs())
	cfg.Tokens = tokens
	if edit != nil {
		edit(&cfg)
	}
	_, addr := assemblytest.Serve(t, cfg)
	tr := &http.Transport{}
	t.Cleanup(tr.CloseIdleConnections)
	return &httpGateway{base: "http://" + addr, client: &http.Client{Transport: tr, Timeout: 10 * time.Second}}
}

// call sends a request with the given secret ("": no Authorization) and
// headers, and reads the whole answer.
func (g *httpGateway) call(t *testing.T, method, uri, secret, body string, header map[string]string) response {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, g.base+uri, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := g.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, uri, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read: %v", method, uri, err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b, took: time.Since(start)}
}

// projectOf is the project_id of an experiment, as the test token sees it.
func (g *httpGateway) projectOf(t *testing.T, id string) int {
	t.Helper()
	r := g.call(t, "GET", "/v2/experiments/"+id, assemblytest.Token, "", nil)
	var e struct {
		ProjectID json.Number `json:"project_id"`
	}
	if r.status != 200 || json.Unmarshal(r.body, &e) != nil {
		t.Fatalf("experiment %s: %d %s", id, r.status, r.body)
	}
	n, err := strconv.Atoi(e.ProjectID.String())
	if err != nil {
		t.Fatalf("experiment %s: project_id %q", id, e.ProjectID)
	}
	return n
}

// outsideProject returns the project of experiment 42 and an experiment
// of another project: the generated ids run through the projects in order.
func (g *httpGateway) outsideProject(t *testing.T) (mine int, other string) {
	t.Helper()
	mine = g.projectOf(t, "42")
	for _, id := range []string{"1", "300", "600", "900", "1000"} {
		if g.projectOf(t, id) != mine {
			return mine, id
		}
	}
	t.Fatal("no experiment outside the project of experiment 42")
	return 0, ""
}

// mocksWithTokens starts the mock backends without latency and writes a
// tokens file of the test token and entries, for the tests of the tokens
// that clients hold.
func mocksWithTokens(t *testing.T, entries ...string) (*mock.Cluster, string) {
	t.Helper()
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	return c, assemblytest.TokensFile(t, append([]string{assemblytest.TestEntry}, entries...)...)
}

// limitedEntry is the tokens file entry of limitedSecret: every project,
// read only, limit requests an hour.
func limitedEntry(limit int) string {
	return assemblytest.TokenEntry("limited", limitedSecret, "all", "read", fmt.Sprintf("{limit: %d, per: 1h}", limit))
}

// scopedGateway serves a gateway in front of the mocks whose only token,
// scopedSecret with the rate limit rate, reads the project of experiment
// 42 alone; other is an experiment of another project.
func scopedGateway(t *testing.T, rate string) (c *mock.Cluster, g *httpGateway, other string) {
	t.Helper()
	c = startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	mine, other := serveHTTP(t, c, "", nil).outsideProject(t)
	tokens := assemblytest.TokensFile(t, assemblytest.TokenEntry("scoped", scopedSecret, "["+strconv.Itoa(mine)+"]", "read", rate))
	return c, serveHTTP(t, c, tokens, nil), other
}

// TestAuthContract: every status and header of authentication, scope and
// rate limits, through a real HTTP client.
func TestAuthContract(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true, Seed: 1})
	probe := serveHTTP(t, c, "", nil)
	mine, other := probe.outsideProject(t)
	otherProject := probe.projectOf(t, other)
	p := strconv.Itoa(mine)
	tokens := assemblytest.TokensFile(t, assemblytest.TestEntry,
		assemblytest.TokenEntry("reader", readerSecret, "all", "read", "{limit: 1000, per: 1s}"),
		assemblytest.TokenEntry("scoped", scopedSecret, "["+p+"]", "read-write", "{limit: 1000, per: 1s}"),
		limitedEntry(3),
	)
	g := serveHTTP(t, c, tokens, nil)

	t.Run("401 without a token", func(t *testing.T) {
		for _, h := range []map[string]string{nil, {"Authorization": "Basic dXNlcjpwYXNz"}, {"Authorization": "Bearer"}} {
			r := g.call(t, "GET", "/v2/experiments/42", "", "", h)
			pr := checkProblem(t, r, 401)
			if pr.Type != problem.TypeUnauthorized {
				t.Errorf("type %q", pr.Type)
			}
			if got := r.header.Get("WWW-Authenticate"); got != server.Challenge {
				t.Errorf("WWW-Authenticate %q, want %q", got, server.Challenge)
			}
		}
	})
	t.Run("401 with an unknown token", func(t *testing.T) {
		r := g.call(t, "GET", "/v2/experiments/42", "no-such-secret", "", nil)
		checkProblem(t, r, 401)
		if got := r.header.Get("WWW-Authenticate"); !strings.HasPrefix(got, server.Challenge) || !strings.Contains(got, "invalid_token") {
			t.Errorf("WWW-Authenticate %q", got)
		}
	})
	t.Run("the scheme is case-insensitive", func(t *testing.T) {
		r := g.call(t, "GET", "/v2/experiments/42", "", "", map[string]string{"Authorization": "bearer " + assemblytest.Token})
		if r.status != 200 {
			t.Errorf("status %d: %s", r.status, r.body)
		}
	})
	t.Run("403 for a read token on POST", func(t *testing.T) {
		r := g.call(t, "POST", "/v2/experiments", readerSecret, `{"project_id":"`+p+`","name":"x"}`, nil)
		if pr := checkProblem(t, r, 403); pr.Type != problem.TypeForbidden {
			t.Errorf("type %q", pr.Type)
		}
		if r := g.call(t, "GET", "/v2/experiments/42", readerSecret, "", nil); r.status != 200 {
			t.Errorf("GET with a read token: %d %s", r.status, r.body)
		}
	})
	t.Run("404 outside the token's projects", func(t *testing.T) {
		absent := g.call(t, "GET", "/v2/experiments/999999", scopedSecret, "", nil)
		checkProblem(t, absent, 404)
		for _, c := range []struct{ uri, call string }{
			{"/v2/experiments/" + other, "experiment"},
			{"/v2/experiments/" + other + "/results", "experiment"},
			{"/v2/projects/" + strconv.Itoa(otherProject), "project"},
			{"/v2/experiments?project_id=" + strconv.Itoa(otherProject), "experiments"},
		} {
			r := g.call(t, "GET", c.uri, scopedSecret, "", nil)
			pr := checkProblem(t, r, 404)
			if pr.Type != problem.TypeNotFound || pr.Call != c.call || pr.Detail != "the "+c.call+" does not exist" {
				t.Errorf("%s: %s, want the problem of a %s that does not exist", c.uri, r.body, c.call)
			}
			// The headers of a 404 of a missing resource, no more, no less.
			for _, h := range []string{"Server-Timing", "X-Request-Id", server.RateLimitRemainingHeader} {
				if (r.header.Get(h) == "") != (absent.header.Get(h) == "") {
					t.Errorf("%s: %s %q, where a missing experiment's 404 has %q", c.uri, h, r.header.Get(h), absent.header.Get(h))
				}
			}
			if r := g.call(t, "GET", c.uri, assemblytest.Token, "", nil); r.status != 200 {
				t.Errorf("%s with a token of every project: %d %s", c.uri, r.status, r.body)
			}
		}
		for _, uri := range []string{"/v2/experiments/42", "/v2/experiments/42/results", "/v2/projects/" + p, "/v2/experiments?project_id=" + p} {
			if r := g.call(t, "GET", uri, scopedSecret, "", nil); r.status != 200 {
				t.Errorf("%s in the token's project: %d %s", uri, r.status, r.body)
			}
		}
		r := g.call(t, "POST", "/v2/experiments", scopedSecret, `{"project_id":"`+strconv.Itoa(otherProject)+`","name":"x"}`, nil)
		checkProblem(t, r, 404)
		if r := g.call(t, "POST", "/v2/experiments", scopedSecret, `{"project_id":"`+p+`","name":"x"}`, nil); r.status != 201 {
			t.Errorf("create in the token's project: %d %s", r.status, r.body)
		}
	})
	t.Run("rate limit headers and 429", func(t *testing.T) {
		for i := range 3 {
			r := g.call(t, "GET", "/v2/experiments/42", limitedSecret, "", nil)
			if r.status != 200 {
				t.Fatalf("request %d: %d %s", i+1, r.status, r.body)
			}
			if r.header.Get(server.RateLimitLimitHeader) != "3" || r.header.Get(server.RateLimitRemainingHeader) != strconv.Itoa(2-i) {
				t.Errorf("request %d: RateLimit-Limit %q, -Remaining %q, want 3, %d", i+1,
					r.header.Get(server.RateLimitLimitHeader), r.header.Get(server.RateLimitRemainingHeader), 2-i)
			}
			if reset, err := strconv.Atoi(r.header.Get(server.RateLimitResetHeader)); err != nil || reset < 1 || reset > 3600 {
				t.Errorf("request %d: RateLimit-Reset %q, want 1..3600 seconds", i+1, r.header.Get(server.RateLimitResetHeader))
			}
		}
		r := g.call(t, "GET", "/v2/experiments/42", limitedSecret, "", nil)
		if pr := checkProblem(t, r, 429); pr.Type != problem.TypeRateLimited {
			t.Errorf("type %q", pr.Type)
		}
		// One request of 3 per hour frees every 20 minutes.
		retry, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || retry < 1100 || retry > 1200 {
			t.Errorf("Retry-After %q, want about 1200 seconds", r.header.Get("Retry-After"))
		}
		if r.header.Get(server.RateLimitRemainingHeader) != "0" || r.header.Get(server.RateLimitResetHeader) != r.header.Get("Retry-After") {
			t.Errorf("429: RateLimit-Remaining %q, -Reset %q, want 0 and Retry-After", r.header.Get(server.RateLimitRemainingHeader), r.header.Get(server.RateLimitResetHeader))
		}
		// Another token has its own limit.
		if r := g.call(t, "GET", "/v2/experiments/42", readerSecret, "", nil); r.status != 200 {
			t.Errorf("another token: %d", r.status)
		}
	})
	t.Run("the document stays open", func(t *testing.T) {
		for _, uri := range []string{"/openapi.yaml", "/openapi.json"} {
			if r := g.call(t, "GET", uri, "", "", nil); r.status != 200 {
				t.Errorf("%s without a token: %d", uri, r.status)
			}
		}
	})
}

// TestScopeCheckPrecedesOtherFailures: for a results page of an
// experiment outside the token's projects, the answer is the 404 of a
// missing experiment even when another call fails: the check follows the
// experiment call, before any other answer is composed, so that no
// failure reveals that the experiment exists.
func TestScopeCheckPrecedesOtherFailures(t *testing.T) {
	c, g, other := scopedGateway(t, "{limit: 1000, per: 1s}")
	none := model.Latency{Kind: "none"}
	if err := c.SetConfig("results", model.Service{Latency: &none, Faults: &model.Faults{Error: 1}}); err != nil {
		t.Fatal(err)
	}
	r := g.call(t, "GET", "/v2/experiments/"+other+"/results", scopedSecret, "", nil)
	if pr := checkProblem(t, r, 404); pr.Call != "experiment" {
		t.Errorf("problem %s, want the experiment's 404", r.body)
	}
	// In the token's project, the failing results call is the 502 it is.
	checkProblem(t, g.call(t, "GET", "/v2/experiments/42/results", scopedSecret, "", nil), 502)
}

// TestExpectContinueNeedsAToken: a create that expects 100-continue
// without a valid token, or with a read token, is refused before its body
// is sent: no 100, the 401 or 403 at once.
func TestExpectContinueNeedsAToken(t *testing.T) {
	c, tokens := mocksWithTokens(t, assemblytest.TokenEntry("reader", readerSecret, "all", "read", "{limit: 1000, per: 1s}"))
	g := serveHTTP(t, c, tokens, nil)
	const body = `{"project_id":"3","name":"x"}`
	for _, tc := range []struct {
		auth string
		want int
	}{
		{"", 401},
		{"Authorization: Bearer wrong\r\n", 401},
		{"Authorization: Bearer " + readerSecret + "\r\n", 403},
		{"Authorization: " + assemblytest.Authorization + "\r\n", 100},
	} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(g.base, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
		head := "POST /v2/experiments HTTP/1.1\r\nHost: gateway\r\n" + tc.auth +
			"Content-Type: application/json\r\nContent-Length: " + strconv.Itoa(len(body)) + "\r\nExpect: 100-continue\r\n\r\n"
		if _, err := io.WriteString(conn, head); err != nil {
			t.Fatal(err)
		}
		line, err := bufio.NewReader(conn).ReadString('\n')
		conn.Close()
		if err != nil || !strings.HasPrefix(line, "HTTP/1.1 "+strconv.Itoa(tc.want)+" ") {
			t.Errorf("%q: first line %q (%v), want %d before the body", tc.auth, line, err, tc.want)
		}
	}
}

// TestOutOfScopeLooksAbsent: the results page of an experiment of another
// project costs what that of an experiment that does not exist costs, and
// answers the same headers: the scope is checked when the experiment call
// answers, no call that depends on it starts, the results call is
// cancelled, and Server-Timing names no call. Every service takes 20 ms,
// so that a layer and settings call made for nothing shows.
func TestOutOfScopeLooksAbsent(t *testing.T) {
	c, g, other := scopedGateway(t, "{limit: 1000000000, per: 1s}")
	fixed := model.Fixed(20 * time.Millisecond)
	for _, s := range []string{model.ServiceExperiments, model.ServiceLayers, model.ServiceProjects, model.ServiceResults} {
		if err := c.SetConfig(s, model.Service{Latency: &fixed}); err != nil {
			t.Fatal(err)
		}
	}
	const rounds = 9
	var hidden, absent response
	var tookHidden, tookAbsent []time.Duration
	// Alternated, so that a moment of load on the machine falls on both.
	for range rounds {
		hidden = g.call(t, "GET", "/v2/experiments/"+other+"/results", scopedSecret, "", nil)
		absent = g.call(t, "GET", "/v2/experiments/999999/results", scopedSecret, "", nil)
		checkProblem(t, hidden, 404)
		checkProblem(t, absent, 404)
		tookHidden, tookAbsent = append(tookHidden, hidden.took), append(tookAbsent, absent.took)
	}
	mh, ma := median(tookHidden), median(tookAbsent)
	t.Logf("median of %d: %s for another project's experiment, %s for one that does not exist", rounds, mh, ma)
	// A call made for nothing adds a service's 20 ms to a request of about
	// that length, doubling it; a loaded machine slows both alike.
	if hi, lo := max(mh, ma), min(mh, ma); hi > lo*3/2 {
		t.Errorf("median of %d: %s for another project's experiment, %s for one that does not exist, want within 1.5x", rounds, mh, ma)
	}
	for _, r := range []response{hidden, absent} {
		if st := r.header.Get("Server-Timing"); !timingTotal.MatchString(st) {
			t.Errorf("Server-Timing %q, want the total only", st)
		}
	}
	// The bodies differ only in their instance, the path asked for.
	if b := bytes.Replace(hidden.body, []byte("/"+other+"/"), []byte("/999999/"), 1); !bytes.Equal(b, absent.body) {
		t.Errorf("bodies differ:\n%s\n%s", hidden.body, absent.body)
	}
	// Every header alike, but the request's own id, the clock's, and the
	// length of the body's instance.
	for _, h := range []http.Header{hidden.header, absent.header} {
		for _, k := range []string{"X-Request-Id", "Date", "Server-Timing", "Content-Length"} {
			h.Del(k)
		}
	}
	if !reflect.DeepEqual(hidden.header, absent.header) {
		t.Errorf("headers differ:\n%v\n%v", hidden.header, absent.header)
	}
}

// median returns the middle of ds, which it sorts.
func median(ds []time.Duration) time.Duration {
	slices.Sort(ds)
	return ds[len(ds)/2]
}
