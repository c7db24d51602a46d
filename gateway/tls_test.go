package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"fanout/gateway/assembly/assemblytest"
	"fanout/gateway/internal/backendtest"
	"fanout/gateway/internal/poll"
)

// selfSigned makes a self-signed ECDSA certificate for 127.0.0.1 named
// name, writes it and its key as PEM to cert and key, and returns it.
func selfSigned(t *testing.T, name, cert, key string) *x509.Certificate {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, cert, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})))
	writeFile(t, key, string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})))
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// served returns the name of the certificate addr presents to a client
// that trusts roots and offers TLS up to maxVersion (0: the latest). The
// client offers TLS 1.0 and later, older than Go's clients do by default,
// so that only the server can refuse an old version.
func served(addr string, roots *x509.CertPool, maxVersion uint16) (string, error) {
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr,
		&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: maxVersion})
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName, nil
}

// TestTLS: with -tls-cert and -tls-key the public listener serves HTTPS,
// refuses TLS older than 1.2, and on SIGHUP presents a new certificate to
// new connections; a certificate file that does not load leaves the one
// in use in place and the log says why.
func TestTLS(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(selfSigned(t, "first", cert, key))
	gw, logs := startRun(t, runArgs(t, addr, "-tls-cert", cert, "-tls-key", key, "-admin-addr", "off", "-log-level", "info"))

	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
	defer tr.CloseIdleConnections()
	req, err := http.NewRequest(http.MethodGet, "https://"+gw+"/v2/experiments/42", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", assemblytest.Authorization)
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET over HTTPS: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version < tls.VersionTLS12 {
		t.Errorf("GET over HTTPS: %d, TLS %v: %.200s; want 200 over TLS 1.2 or later", resp.StatusCode, resp.TLS != nil, body)
	}
	if _, err := served(gw, roots, tls.VersionTLS11); err == nil {
		t.Error("a client offering at most TLS 1.1 was served; want it refused")
	}

	roots.AddCert(selfSigned(t, "second", cert, key))
	hangUp(t)
	poll.Until(t, 5*time.Second, "the reloaded certificate on new connections", func() bool {
		name, err := served(gw, roots, 0)
		return err == nil && name == "second"
	})

	writeFile(t, cert, "not a certificate\n")
	hangUp(t)
	poll.Until(t, 5*time.Second, "the log to say the bad certificate was not loaded", func() bool {
		return strings.Contains(logs.String(), "the previous certificate stays in use")
	})
	if name, err := served(gw, roots, 0); err != nil || name != "second" {
		t.Errorf("after a bad certificate file: %q %v, want the certificate in use, second", name, err)
	}
}

// TestBadTLSFlags: a certificate that does not load, or half of a pair,
// stops the start with an error that names the fault.
func TestBadTLSFlags(t *testing.T) {
	_, addr := backendtest.StartTCP(t)
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	selfSigned(t, "good", cert, key)
	garbage := filepath.Join(dir, "garbage.pem")
	writeFile(t, garbage, "not a key\n")
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-tls-cert", cert}, "tls_key"},
		{[]string{"-tls-key", key}, "tls_cert"},
		{[]string{"-tls-cert", filepath.Join(dir, "missing.pem"), "-tls-key", key}, "missing.pem"},
		{[]string{"-tls-cert", cert, "-tls-key", garbage}, "garbage.pem"},
	} {
		err := run(context.Background(), runArgs(t, addr, append([]string{"-admin-addr", "off"}, c.flags...)...), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("run %v: %v, want an error naming %s", c.flags, err, c.want)
		}
	}
}
