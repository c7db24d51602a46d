package overload

import (
	"net"
	"runtime"
	"slices"
	"testing"
	"time"
)

// TestPollNetworkReadsSooner: on a CPU that always has goroutines ready
// to run, a byte that arrives on a connection is read only when the
// runtime next polls the network: up to 10 ms later, unless pollNetwork
// makes it poll. With pollNetwork every 2 ms, the median wait is at
// most half of what it is without, in one of three attempts. This is the runtime behaviour that
// the Limiter's polling relies on; a runtime that changed it would fail
// here.
func TestPollNetworkReadsSooner(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	server, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer server.Close()

	// Goroutines that take turns on the one CPU in slices of 50 µs, so
	// that it never runs out of work.
	defer takeTurns(4, 50*time.Microsecond)()

	// waits sends a byte n times and returns how long each took to be
	// read.
	waits := func(n int) []time.Duration {
		sent := make(chan time.Time, 1)
		read := make(chan time.Duration, n)
		go func() {
			b := make([]byte, 1)
			for range n {
				if _, err := server.Read(b); err != nil {
					close(read)
					return
				}
				read <- time.Since(<-sent)
			}
		}()
		out := make([]time.Duration, 0, n)
		for range n {
			time.Sleep(3 * time.Millisecond)
			sent <- time.Now()
			if _, err := client.Write([]byte{1}); err != nil {
				t.Fatal(err)
			}
			d, ok := <-read
			if !ok {
				t.Fatal("the server's read failed")
			}
			out = append(out, d)
		}
		return out
	}
	median := func(ds []time.Duration) time.Duration {
		slices.Sort(ds)
		return ds[len(ds)/2]
	}

	// A busy machine can starve the process's one thread for a while, so
	// that the polls come late: up to three attempts, each measuring both
	// back to back. A runtime where the polls did not help would fail all
	// three.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		without, with := measure(waits, median)
		t.Logf("attempt %d: median wait to read a byte on a CPU never idle: %v without polling, %v with pollNetwork every %v", attempt, without, with, DefaultPoll)
		if with*2 <= without {
			return
		}
		if attempt == attempts {
			t.Errorf("median wait %v with pollNetwork every %v, %v without, in %d attempts: want at most half", with, DefaultPoll, without, attempts)
			return
		}
	}
}

// measure returns the median wait to read a byte without polling the
// network, then with pollNetwork every DefaultPoll.
func measure(waits func(n int) []time.Duration, median func([]time.Duration) time.Duration) (without, with time.Duration) {
	without = median(waits(30))
	stopPolling, polled := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(polled)
		var ms runtime.MemStats
		tick := time.NewTicker(DefaultPoll)
		defer tick.Stop()
		for {
			select {
			case <-stopPolling:
				return
			case <-tick.C:
				pollNetwork(&ms)
			}
		}
	}()
	with = median(waits(30))
	close(stopPolling)
	<-polled
	return without, with
}
