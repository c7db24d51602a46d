package config

import (
	"io"
	"strings"
	"testing"
	"time"

	"fanout/gateway/internal/server"
)

// TestLimits: the limits on clients come from defaults, the file and the
// flags, in that order, and out-of-range ones are refused by name.
func TestLimits(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.Limits != server.DefaultLimits() || c.MaxConnsPerIP != server.DefaultMaxConnsPerIP || c.HeaderTimeout != server.DefaultHeaderTimeout {
		t.Errorf("defaults: %+v", c)
	}
	c, err = Decode([]byte("read_timeout: 3s\nheader_timeout: 1s\nmax_body_size: 4096\nmax_conns_per_ip: 0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.ReadTimeout != 3*time.Second || c.HeaderTimeout != time.Second || c.MaxRequestBodySize != 4096 || c.MaxConnsPerIP != 0 || c.WriteTimeout != server.DefaultWriteTimeout {
		t.Errorf("file: %+v", c)
	}
	c, err = Parse([]string{"-read-timeout", "250ms", "-write-timeout", "1s", "-idle-timeout", "2s",
		"-max-body-size", "100", "-max-header-size", "2048", "-max-client-conns", "5", "-max-conns-per-ip", "2", "-header-timeout", "150ms"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := [8]int64{int64(250 * time.Millisecond), int64(time.Second), int64(2 * time.Second), 100, 2048, 5, 2, int64(150 * time.Millisecond)}
	got := [8]int64{int64(c.ReadTimeout), int64(c.WriteTimeout), int64(c.IdleTimeout), int64(c.MaxRequestBodySize), int64(c.MaxHeaderSize), int64(c.MaxClientConns), int64(c.MaxConnsPerIP), int64(c.HeaderTimeout)}
	if got != want {
		t.Errorf("flags: got %v, want %v", got, want)
	}
	for _, bad := range []struct{ args []string }{
		{[]string{"-read-timeout", "0s"}},
		{[]string{"-header-timeout", "0s"}},
		{[]string{"-max-body-size", "0"}},
		{[]string{"-max-header-size", "100"}},
		{[]string{"-max-client-conns", "0"}},
		{[]string{"-max-conns-per-ip", "-1"}},
	} {
		_, err := Parse(bad.args, io.Discard)
		name := strings.ReplaceAll(strings.TrimPrefix(bad.args[0], "-"), "-", "_")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Parse %v: error %v, want one naming %s", bad.args, err, name)
		}
	}
}

// TestBodyBudgetSettings: the memory budget for request bodies comes from
// defaults, the file and the flags, and a budget smaller than one body is
// refused by name.
func TestBodyBudgetSettings(t *testing.T) {
	c, err := Parse(nil, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if c.MaxBodyBytesInFlight != server.DefaultMaxBodyBytesInFlight || c.MaxBodyBytesPerIP != server.DefaultMaxBodyBytesPerIP {
		t.Errorf("defaults: %d %d", c.MaxBodyBytesInFlight, c.MaxBodyBytesPerIP)
	}
	c, err = Decode([]byte("max_body_bytes_in_flight: 9000000\nmax_body_bytes_per_ip: 2000000\n"))
	if err != nil || c.MaxBodyBytesInFlight != 9000000 || c.MaxBodyBytesPerIP != 2000000 {
		t.Errorf("file: %d %d (%v)", c.MaxBodyBytesInFlight, c.MaxBodyBytesPerIP, err)
	}
	c, err = Parse([]string{"-max-body-bytes-in-flight", "4000000", "-max-body-bytes-per-ip", "3000000"}, io.Discard)
	if err != nil || c.MaxBodyBytesInFlight != 4000000 || c.MaxBodyBytesPerIP != 3000000 {
		t.Errorf("flags: %d %d (%v)", c.MaxBodyBytesInFlight, c.MaxBodyBytesPerIP, err)
	}
	for _, bad := range [][]string{
		{"-max-body-bytes-per-ip", "1000"},
		{"-max-body-bytes-in-flight", "2000000"},
	} {
		_, err := Parse(bad, io.Discard)
		name := strings.ReplaceAll(strings.TrimPrefix(bad[0], "-"), "-", "_")
		if err == nil || !strings.Contains(err.Error(), name) {
			t.Errorf("Parse %v: error %v, want one naming %s", bad, err, name)
		}
	}
}
