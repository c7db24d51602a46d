package server_test

import (
	"encoding/json"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"fanout/mockbackends/mock"
)

// linkValue is one link-value of an RFC 8288 Link header.
var linkValue = regexp.MustCompile(`^<([^<>]*)>; rel="(first|prev|next|last)"$`)

// links parses a Link header into rel -> target. Targets are escaped
// URIs, which hold no comma, so the values split on commas.
func links(t *testing.T, header string) map[string]*url.URL {
	t.Helper()
	m := map[string]*url.URL{}
	if header == "" {
		return m
	}
	for _, v := range strings.Split(header, ", ") {
		p := linkValue.FindStringSubmatch(v)
		if p == nil {
			t.Fatalf("link-value %q of %q is malformed", v, header)
		}
		u, err := url.Parse(p[1])
		if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") {
			t.Fatalf("link %q is not an absolute-path URI: %v", p[1], err)
		}
		if m[p[2]] != nil {
			t.Fatalf("rel %q twice in %q", p[2], header)
		}
		m[p[2]] = u
	}
	return m
}

// TestListLinks: the list carries an RFC 8288 Link header with first,
// prev, next and last, prev and next only where they exist, whose targets
// keep the other query parameters; the body has total and total_pages; and
// following next from the first page visits every experiment once.
func TestListLinks(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})

	// Project 1 has 20 experiments: 3 pages of 7, 7 and 6.
	for _, tc := range []struct {
		uri                     string
		first, prev, next, last string // page numbers, "" if absent
	}{
		{"/v2/experiments?project_id=1&per_page=7", "1", "", "2", "3"},
		{"/v2/experiments?project_id=1&page=1&per_page=7", "1", "", "2", "3"},
		{"/v2/experiments?project_id=1&page=2&per_page=7", "1", "1", "3", "3"},
		{"/v2/experiments?page=3&per_page=7&project_id=1", "1", "2", "", "3"},
		{"/v2/experiments?project_id=1&page=9&per_page=7", "1", "3", "", "3"},
		{"/v2/experiments?project_id=1", "1", "", "", "1"},
		{"/v2/experiments?project_id=1&per_page=20", "1", "", "", "1"},
		{"/v2/experiments?project_id=1&per_page=19", "1", "", "2", "2"},
	} {
		r := g.get(t, tc.uri)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", tc.uri, r.status, r.body)
		}
		g.validateResponse(t, "GET", tc.uri, r)
		req, _ := url.Parse(tc.uri)
		ls := links(t, r.header.Get("Link"))
		for rel, want := range map[string]string{"first": tc.first, "prev": tc.prev, "next": tc.next, "last": tc.last} {
			u := ls[rel]
			if want == "" {
				if u != nil {
					t.Errorf("%s: rel %s %s, want none", tc.uri, rel, u)
				}
				continue
			}
			if u == nil {
				t.Errorf("%s: no rel %s in %q", tc.uri, rel, r.header.Get("Link"))
				continue
			}
			q := u.Query()
			if u.Path != "/v2/experiments" || q.Get("page") != want || len(q["page"]) != 1 {
				t.Errorf("%s: rel %s %s, want page %s of /v2/experiments", tc.uri, rel, u, want)
			}
			for k, v := range req.Query() {
				if k != "page" && q.Get(k) != v[0] {
					t.Errorf("%s: rel %s %s lost %s=%s", tc.uri, rel, u, k, v[0])
				}
			}
		}
		var page struct {
			Total      *int `json:"total"`
			TotalPages *int `json:"total_pages"`
			PerPage    int  `json:"per_page"`
		}
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		if page.Total == nil || *page.Total != 20 || page.TotalPages == nil || *page.TotalPages != (20+page.PerPage-1)/page.PerPage {
			t.Errorf("%s: total %v, total_pages %v for 20 experiments by %d", tc.uri, page.Total, page.TotalPages, page.PerPage)
		}
	}

	// Follow next from the first page, as a client would.
	seen := map[string]bool{}
	next := "/v2/experiments?project_id=1&per_page=6"
	for hops := 0; next != ""; hops++ {
		if hops > 10 {
			t.Fatal("next never ends")
		}
		r := g.get(t, next)
		var page struct{ Items []struct{ ID string } }
		if err := json.Unmarshal(r.body, &page); err != nil {
			t.Fatal(err)
		}
		for _, it := range page.Items {
			if seen[it.ID] {
				t.Errorf("experiment %s listed twice", it.ID)
			}
			seen[it.ID] = true
		}
		next = ""
		if u := links(t, r.header.Get("Link"))["next"]; u != nil {
			next = u.String()
		}
	}
	if len(seen) != 20 {
		t.Errorf("following next listed %d experiments, want 20", len(seen))
	}

	// Errors carry no Link.
	if r := g.get(t, "/v2/experiments?project_id=999999"); r.status != 404 || r.header.Get("Link") != "" {
		t.Errorf("404: status %d, Link %q", r.status, r.header.Get("Link"))
	}
}

// TestListLinksEscaped: the targets keep every other query parameter the
// client sent, escaped, so that no byte of it can break out of the <...>.
func TestListLinksEscaped(t *testing.T) {
	c := startMocks(t, mock.Options{NoLatency: true})
	g := startGateway(t, gatewayOptions{backends: c.Addrs()})
	uri := "/v2/experiments?project_id=1&per_page=5&page=2&x=" + url.QueryEscape(`a b<c>;d,"e"&f=ü`)
	r := g.get(t, uri)
	if r.status != 200 {
		t.Fatalf("%s: status %d: %s", uri, r.status, r.body)
	}
	ls := links(t, r.header.Get("Link"))
	for _, rel := range []string{"first", "prev", "next", "last"} {
		u := ls[rel]
		if u == nil {
			t.Fatalf("no rel %s in %q", rel, r.header.Get("Link"))
		}
		if got := u.Query().Get("x"); got != `a b<c>;d,"e"&f=ü` {
			t.Errorf("rel %s: x=%q, want the client's value", rel, got)
		}
	}
}

// TestListTotalPages: a backend page with total but without total_pages
// gets total_pages from the gateway.
func TestListTotalPages(t *testing.T) {
	g, _ := withFake(t, gatewayOptions{})
	uri := "/v2/experiments?project_id=3"
	r := g.get(t, uri)
	var page map[string]any
	if err := json.Unmarshal(r.body, &page); err != nil {
		t.Fatalf("%v: %s", err, r.body)
	}
	if page["total"] != 1.0 || page["total_pages"] != 1.0 {
		t.Errorf("total %v, total_pages %v; want 1 and 1: %s", page["total"], page["total_pages"], r.body)
	}
	ls := links(t, r.header.Get("Link"))
	if len(ls) != 2 || ls["first"] == nil || ls["last"] == nil || ls["last"].Query().Get("page") != "1" {
		t.Errorf("Link %q, want first and last, page 1", r.header.Get("Link"))
	}
	g.validateResponse(t, "GET", uri, r)
}
