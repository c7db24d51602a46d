//go:build race

package overload_test

// raceEnabled: the race detector multiplies what a request costs the
// process's CPU several times over, so the load tests, which judge the
// gateway by its own saturation, would measure the detector.
const raceEnabled = true
