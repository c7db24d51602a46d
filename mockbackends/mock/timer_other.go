//go:build !linux

package mock

func newSleeper() (sleeper, error) { return newPlainSleeper(), nil }
