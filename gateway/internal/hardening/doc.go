// Package hardening holds black-box tests of the gateway against hostile
// clients, misbehaving backends, slow connections and shutdown: they start
// a real server on 127.0.0.1 port 0 (or the built binary) and check that
// every request gets a documented answer, that others keep being served,
// and that nothing leaks. It has no code of its own.
package hardening
