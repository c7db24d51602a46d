package server

import (
	"testing"
	"time"

	"fanout/gateway/internal/overload"

	"github.com/valyala/fasthttp"
)

// TestClientErrorsDoNotTeachTheLimit: answers refused in microseconds for a
// client's fault (a bad token, a bad id, a missing resource) do not teach
// the overload limit an unloaded latency; a served page does.
func TestClientErrorsDoNotTeachTheLimit(t *testing.T) {
	l, err := overload.New(overload.Settings{Window: time.Millisecond, Samples: 1})
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{limiter: l}
	answer := func(status int) {
		var ctx fasthttp.RequestCtx
		if !l.Acquire(overload.Sheddable) {
			t.Fatal("shed with nothing in flight")
		}
		ctx.Response.SetStatusCode(status)
		s.release(&ctx, time.Now())
	}
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		for _, status := range []int{401, 400, 404, 429, 503} {
			answer(status)
		}
	}
	if b := l.Baseline(); b != 0 {
		t.Errorf("baseline %v after client errors and refusals only, want none learned", b)
	}
	for end := time.Now().Add(20 * time.Millisecond); time.Now().Before(end); {
		answer(200)
	}
	if l.Baseline() == 0 {
		t.Error("no baseline learned from served pages")
	}
}
