// Package poll waits in tests for a condition that another goroutine or
// process brings about, instead of sleeping for a guessed time and then
// asserting: the wait ends as soon as the condition holds, and a condition
// that never holds fails the test with what was awaited.
package poll

import (
	"testing"
	"time"
)

// Every is how often Until checks its condition.
const Every = 2 * time.Millisecond

// Until returns as soon as cond holds, checking it every Every, and fails
// t (t.Fatalf) if it still does not hold after within. what names the
// condition in the failure, e.g. "the mocks idle".
func Until(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", within, what)
		}
		time.Sleep(Every)
	}
}
