// Package assemblytest serves an assembled gateway for tests, as
// net/http/httptest serves a handler: on a 127.0.0.1 port it picks, with
// logs discarded and no admin listener, shut down when the test ends.
package assemblytest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/config"
)

// Serve assembles a gateway from cfg and serves its public port on
// 127.0.0.1 until t ends, when it is shut down (a failed shutdown fails t).
// It returns the gateway and the address it listens on.
func Serve(t testing.TB, cfg config.Config) (*assembly.Gateway, string) {
	t.Helper()
	gw, err := assembly.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	addr, _, err := gw.Listen("127.0.0.1:0", config.AdminOff)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
	})
	return gw, addr.String()
}
