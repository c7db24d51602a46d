package main

import (
	"bytes"
	"fmt"
	"net"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/valyala/fasthttp"
	"github.com/valyala/fastjson"

	"fanout/bench/launch"
	"fanout/gateway/assembly"
)

// Backends the results page calls, by the names the gateway's document
// gives them.
var backendNames = []string{"experiments", "layers", "projects", "results"}

// floor serves the results page as a bare fan-out: the four calls of the
// gateway's plan for GET /v2/experiments/{experiment_id}/results, in the
// same graph (experiment and results at once; the layer and the project's
// settings once the experiment names them), over one fasthttp HostClient
// per backend, and the page composed by the gateway's own composition. It
// does nothing else: no validation, authentication, policies, metrics or
// headers beyond the content type. Its methods are safe for concurrent
// use.
type floor struct {
	clients  map[string]*fasthttp.HostClient
	deadline time.Duration
	parsers  fastjson.ParserPool
	pages    sync.Pool // *[]byte: composed pages, reused
}

// newFloor returns a floor calling the backends at addrs (name to
// host:port), each with at most maxConns connections, every page bounded
// by deadline; raw: their sockets are read and written as the gateway
// does (assembly.WrapConn), else through net.Conn as fasthttp does.
func newFloor(addrs map[string]string, maxConns int, deadline time.Duration, raw bool) (*floor, error) {
	f := &floor{clients: map[string]*fasthttp.HostClient{}, deadline: deadline}
	var dial fasthttp.DialFunc // nil: fasthttp's own, on net.Conn
	if raw {
		dial = func(a string) (net.Conn, error) {
			c, err := fasthttp.Dial(a)
			if err != nil {
				return nil, err
			}
			return assembly.WrapConn(c), nil
		}
	}
	for _, name := range backendNames {
		addr := addrs[name]
		if addr == "" {
			return nil, fmt.Errorf("no address for backend %s (-backend %s=HOST:PORT)", name, name)
		}
		// The gateway's sizes: as many connections, and a call waits for
		// one as long as the page may last (fasthttp's default of 0
		// would fail at once when all are busy).
		f.clients[name] = &fasthttp.HostClient{
			Addr: addr, Name: "fanout-floor", MaxConns: maxConns, MaxConnWaitTimeout: deadline,
			MaxIdleConnDuration: 30 * time.Second, DisablePathNormalizing: true, Dial: dial,
		}
	}
	return f, nil
}

// serve routes a request: the results page, the allocation counter, or 404.
func (f *floor) serve(ctx *fasthttp.RequestCtx) {
	path := ctx.Path()
	if string(path) == launch.FloorMallocsPath {
		// runtime.MemStats.Mallocs is the figure of the gateway's
		// go_memstats_mallocs_total: the bench reads both alike.
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		ctx.SetContentType("text/plain; charset=utf-8")
		ctx.SetBody(strconv.AppendUint(nil, m.Mallocs, 10))
		return
	}
	id, ok := resultsID(path)
	if !ok || !ctx.IsGet() {
		ctx.Error("not found: the floor serves GET /v2/experiments/{experiment_id}/results only", fasthttp.StatusNotFound)
		return
	}
	f.results(ctx, id)
}

// resultsID returns the experiment id of a results page's path
// (/v2/experiments/{id}/results).
func resultsID(path []byte) ([]byte, bool) {
	rest, ok := bytes.CutPrefix(path, []byte("/v2/experiments/"))
	if !ok {
		return nil, false
	}
	id, ok := bytes.CutSuffix(rest, []byte("/results"))
	if !ok || len(id) == 0 || bytes.IndexByte(id, '/') >= 0 {
		return nil, false
	}
	return id, true
}

// call is one backend call's outcome; resp is nil when it was not made.
type call struct {
	resp *fasthttp.Response
	err  error
}

// ok reports whether the call answered 200, so its body can be used.
func (c *call) ok() bool {
	return c.err == nil && c.resp != nil && c.resp.StatusCode() == fasthttp.StatusOK
}

// body is the call's body if ok, else nil.
func (c *call) body() []byte {
	if !c.ok() {
		return nil
	}
	return c.resp.Body()
}

func (c *call) release() {
	if c.resp != nil {
		fasthttp.ReleaseResponse(c.resp)
	}
}

// get makes one GET of the path made of parts on backend name, by deadline.
func (f *floor) get(name string, deadline time.Time, parts ...[]byte) call {
	req := fasthttp.AcquireRequest()
	defer fasthttp.ReleaseRequest(req)
	var buf [128]byte
	uri := buf[:0]
	for _, p := range parts {
		uri = append(uri, p...)
	}
	req.SetRequestURIBytes(uri)
	hc := f.clients[name]
	req.Header.SetHost(hc.Addr)
	resp := fasthttp.AcquireResponse()
	if err := hc.DoDeadline(req, resp, deadline); err != nil {
		fasthttp.ReleaseResponse(resp)
		return call{err: fmt.Errorf("%s %s: %w", name, uri, err)}
	}
	return call{resp: resp}
}

// results answers the results page of experiment rawID. Every goroutine
// it starts is joined before it returns, since the request's bytes are
// valid only until then.
func (f *floor) results(ctx *fasthttp.RequestCtx, rawID []byte) {
	id := rawID
	deadline := time.Now().Add(f.deadline)

	var wg sync.WaitGroup
	var res, layer, settings call
	defer func() {
		// Every goroutine is joined before the responses go back.
		wg.Wait()
		res.release()
		layer.release()
		settings.release()
	}()
	wg.Go(func() { res = f.get("results", deadline, []byte("/results/"), id) })
	exp := f.get("experiments", deadline, []byte("/experiments/"), id)
	defer exp.release()
	switch {
	case exp.err != nil:
		ctx.Error("experiment: "+exp.err.Error(), fasthttp.StatusBadGateway)
		return
	case exp.resp.StatusCode() == fasthttp.StatusNotFound:
		ctx.Error("experiment not found", fasthttp.StatusNotFound)
		return
	case !exp.ok():
		ctx.Error("experiment: status "+strconv.Itoa(exp.resp.StatusCode()), fasthttp.StatusBadGateway)
		return
	}
	p := f.parsers.Get()
	v, err := p.ParseBytes(exp.resp.Body())
	var layerID, projectID []byte
	if err == nil {
		layerID, projectID = v.GetStringBytes("layer_id"), v.GetStringBytes("project_id")
	}
	if len(layerID) == 0 || len(projectID) == 0 {
		f.parsers.Put(p)
		ctx.Error("experiment: malformed body", fasthttp.StatusBadGateway)
		return
	}
	wg.Go(func() { layer = f.get("layers", deadline, []byte("/layers/"), layerID) })
	settings = f.get("projects", deadline, []byte("/projects/"), projectID, []byte("/settings"))
	wg.Wait()
	f.parsers.Put(p) // layerID and projectID point into its value

	in := assembly.PageInput{Experiment: exp.body(), Layer: layer.body(), Settings: settings.body(), Results: res.body()}
	for _, c := range []struct {
		name string
		call *call
	}{{"layer", &layer}, {"settings", &settings}} {
		if !c.call.ok() {
			in.Missing = append(in.Missing, assembly.PageMissing{Call: c.name, Kind: "unavailable", Detail: "the call failed"})
		}
	}
	switch {
	case res.err == nil && res.resp.StatusCode() == fasthttp.StatusNotFound:
		in.NoResultsYet = true
	case !res.ok():
		ctx.Error("results: the call failed", fasthttp.StatusBadGateway)
		return
	}
	bp, _ := f.pages.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer f.pages.Put(bp)
	page, err := assembly.ComposeResultsPage((*bp)[:0], &in)
	*bp = page
	if err != nil {
		ctx.Error("compose: "+err.Error(), fasthttp.StatusBadGateway)
		return
	}
	ctx.SetContentType("application/json")
	ctx.SetBody(page)
}
