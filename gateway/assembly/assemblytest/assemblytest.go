// Package assemblytest serves an assembled gateway for tests, as
// net/http/httptest serves a handler: on a 127.0.0.1 port it picks, with
// logs discarded and no admin listener, shut down when the test ends; and
// the mock backends it fans out to.
package assemblytest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"fanout/gateway/assembly"
	"fanout/gateway/internal/auth"
	"fanout/gateway/internal/config"
	"fanout/mockbackends/mock"
)

// Token is the secret of the test token that Authorize sets up: every
// project, read-write, with a rate limit no test reaches.
const Token = "fanout-test-token"

// Authorization is the Authorization header value of Token.
const Authorization = "Bearer " + Token

// TokensFile writes a tokens file of the given YAML entries (each one
// "- name: ..." list item, indented as an item of tokens) into t's
// temporary directory and returns its path.
func TokensFile(t testing.TB, entries ...string) string {
	t.Helper()
	data := "tokens:\n"
	for _, e := range entries {
		data += e
	}
	path := filepath.Join(t.TempDir(), "tokens.yaml")
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TokenEntry is a tokens file entry for secret.
func TokenEntry(name, secret, projects, access, rate string) string {
	return fmt.Sprintf("  - name: %s\n    sha256: %s\n    projects: %s\n    access: %s\n    rate: %s\n",
		name, auth.Hash(secret), projects, access, rate)
}

// TokenName is the name of Token in the tokens file, which logs and
// traces show.
const TokenName = "test"

// TestEntry is the tokens file entry of Token.
var TestEntry = TokenEntry(TokenName, Token, "all", auth.AccessReadWrite, "{limit: 1000000000, per: 1s}")

// Authorize returns cfg with a tokens file that holds Token, unless cfg
// names a tokens file already or turns authentication off: the one place
// where the gateway's tests get their token.
func Authorize(t testing.TB, cfg config.Config) config.Config {
	t.Helper()
	if cfg.Tokens == "" && cfg.Auth != config.AuthOff {
		cfg.Tokens = TokensFile(t, TestEntry)
	}
	return cfg
}

// Serve assembles a gateway from cfg and serves its public port on
// 127.0.0.1 until t ends, when it is shut down (a failed shutdown fails t).
// It returns the gateway and the address it listens on. Requests to /v2
// need Authorization (see Authorize), unless cfg turns auth off or names
// its own tokens.
func Serve(t testing.TB, cfg config.Config) (*assembly.Gateway, string) {
	t.Helper()
	return ServeLogged(t, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
}

// ServeLogged is Serve with the gateway's log going to log, for tests that
// read what it logs.
func ServeLogged(t testing.TB, cfg config.Config, log *slog.Logger) (*assembly.Gateway, string) {
	t.Helper()
	gw := assemble(t, cfg, log)
	addr, _, err := gw.Listen("127.0.0.1:0", config.AdminOff)
	if err != nil {
		t.Fatal(err)
	}
	return gw, addr.String()
}

// ServeOn is ServeLogged on a listener the test made, such as an in-memory
// one, where no real port is needed; log nil discards the gateway's log.
func ServeOn(t testing.TB, cfg config.Config, log *slog.Logger, ln net.Listener) *assembly.Gateway {
	t.Helper()
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	gw := assemble(t, cfg, log)
	gw.Start(ln, nil)
	return gw
}

// assemble assembles a gateway from cfg, with the test token (see
// Authorize), shut down when t ends (a failed shutdown fails t).
func assemble(t testing.TB, cfg config.Config, log *slog.Logger) *assembly.Gateway {
	t.Helper()
	gw, err := assembly.New(Authorize(t, cfg), log)
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
	return gw
}

// Cluster starts the mock backends with opts on free loopback ports until
// t ends, when they are closed (a failed close fails t).
func Cluster(t testing.TB, opts mock.Options) *mock.Cluster {
	t.Helper()
	c, err := mock.Start(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close mock backends: %v", err)
		}
	})
	return c
}
