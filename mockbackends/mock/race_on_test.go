//go:build race

package mock

// raceEnabled reports whether the race detector instruments this build: it
// makes the in-process client and server several times slower, so timing
// tests use fewer concurrent requests.
const raceEnabled = true
