package server

import (
	"log/slog"
	"testing"

	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/compose"

	"github.com/valyala/fasthttp"
)

// BenchmarkRepresent measures what finishGET adds to a GET 200: the hash
// alone for a client without Accept-Encoding (the baseline), then each
// coding, on a results page and on a list page of 100 experiments.
func BenchmarkRepresent(b *testing.B) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	page, err := compose.ResultsPage(nil, &compose.Input{
		Experiment: backendtest.Experiment(42), Layer: backendtest.Layer(1),
		Settings: backendtest.Settings(3), Results: backendtest.Results(42),
	})
	if err != nil {
		b.Fatal(err)
	}
	list := []byte(`{"items":[`)
	for i := 1; i <= 100; i++ {
		if i > 1 {
			list = append(list, ',')
		}
		list = append(list, backendtest.Experiment(i)...)
	}
	list = append(list, `],"page":1,"per_page":100,"total":100,"total_pages":1}`...)
	for _, body := range []struct {
		name string
		b    []byte
	}{{"results", page}, {"list", list}} {
		for _, ae := range []string{"", "gzip", "br"} {
			b.Run(body.name+"/"+ae, func(b *testing.B) {
				var ctx fasthttp.RequestCtx
				b.ReportAllocs()
				b.SetBytes(int64(len(body.b)))
				var out int
				for b.Loop() {
					ctx.Request.Header.Set(fasthttp.HeaderAcceptEncoding, ae)
					ctx.Response.Reset()
					ctx.Response.SetBody(body.b)
					s.finishGET(&ctx)
					out = len(ctx.Response.Body())
				}
				b.ReportMetric(float64(out), "bytes/op")
			})
		}
	}
}

// BenchmarkResultsServedAs is BenchmarkResultsServed with each
// Accept-Encoding, and revalidated with If-None-Match: what a results
// request costs as a client asks for it.
func BenchmarkResultsServedAs(b *testing.B) {
	s, _ := benchServer(b)
	client := servedClient(b, s)
	for _, c := range []struct{ name, ae, inm string }{
		{"identity", "", ""}, {"gzip", "gzip", ""}, {"br", "br", ""}, {"not-modified", "", "etag"},
	} {
		b.Run(c.name, func(b *testing.B) {
			req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
			req.SetRequestURI("http://gateway/v2/experiments/42/results")
			if c.ae != "" {
				req.Header.Set(fasthttp.HeaderAcceptEncoding, c.ae)
			}
			if c.inm != "" {
				if err := client.Do(req, resp); err != nil {
					b.Fatal(err)
				}
				req.Header.SetBytesV(fasthttp.HeaderIfNoneMatch, resp.Header.Peek(fasthttp.HeaderETag))
			}
			want := map[bool]int{false: 200, true: 304}[c.inm != ""]
			b.ReportAllocs()
			for b.Loop() {
				if err := client.Do(req, resp); err != nil || resp.StatusCode() != want {
					b.Fatal(err, resp.StatusCode())
				}
			}
		})
	}
}
