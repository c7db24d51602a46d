package assembly

import (
	"crypto/tls"
	"errors"
	"fmt"
	"sync/atomic"

	"fanout/gateway/internal/auth"
)

// certificate is the public listener's TLS certificate, loaded from its
// files at start-up and again on each reload. The listener's handshakes
// read it with one atomic load, so a reload swaps it under connections
// that are being opened, and the ones already open keep theirs.
type certificate struct {
	certFile, keyFile string
	current           atomic.Pointer[tls.Certificate]
}

// loadCertificate reads a PEM certificate (chain) and its key.
func loadCertificate(certFile, keyFile string) (*certificate, error) {
	c := &certificate{certFile: certFile, keyFile: keyFile}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

// reload reads the files again and, only if they load as a pair, puts
// them in use; otherwise the certificate in use stays.
func (c *certificate) reload() error {
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("tls certificate %s, key %s: %w", c.certFile, c.keyFile, err)
	}
	c.current.Store(&cert)
	return nil
}

// config is the public listener's TLS configuration. TLS 1.2 is the
// oldest version offered, as RFC 9325 asks. The cipher suites are Go's
// defaults, which are already modern: forward-secret ECDHE only, AEADs
// first (AES-GCM or ChaCha20-Poly1305, as the client's hardware suits),
// and RC4, 3DES, CBC with SHA-256 and static RSA key exchange left out; a
// list of our own would only fall behind Go's.
func (c *certificate) config() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return c.current.Load(), nil
		},
	}
}

// Drain begins a graceful stop, as server.Server's Drain does: /readyz
// answers 503 draining, and the public listener serves on with
// Connection: close on every answer, until Shutdown.
func (g *Gateway) Drain() { g.srv.Drain() }

// Reload reads the tokens file and the TLS certificate and key again, as
// the gateway does on SIGHUP, and puts in use each of them that loads.
// One that does not load leaves the one in use in place; the error says
// which file failed, and why. A gateway without a tokens file (a
// development token, or authentication off) and one without TLS have
// nothing of that kind to reload. It is safe for concurrent use with the
// requests being served.
func (g *Gateway) Reload() error {
	var errs []error
	if g.tokensFile != "" {
		set, err := auth.Load(g.tokensFile)
		if err == nil {
			err = g.srv.SetTokens(set)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("reload: the previous tokens stay in use: %w", err))
		} else {
			g.log.Info("reloaded tokens", "file", g.tokensFile, "tokens", set.Len())
		}
	}
	if g.cert != nil {
		if err := g.cert.reload(); err != nil {
			errs = append(errs, fmt.Errorf("reload: the previous certificate stays in use: %w", err))
		} else {
			g.log.Info("reloaded the TLS certificate", "cert", g.cert.certFile, "key", g.cert.keyFile)
		}
	}
	return errors.Join(errs...)
}
