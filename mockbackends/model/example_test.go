package model_test

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"fanout/mockbackends/model"
)

func ExampleParseLatency() {
	l, err := model.ParseLatency("lognormal:p50=40ms,p99=200ms,spike=0.01@300ms")
	if err != nil {
		panic(err)
	}
	fmt.Println(l.Kind, l.P50, l.P99, l.Spike.Delay)
	// The median of the mixture is barely moved by a 1 % spike; its p99
	// is the spike's.
	fmt.Println(l.Quantile(0.5).Round(100_000), l.Quantile(0.99).Round(1_000_000))
	// Output:
	// lognormal 40ms 200ms 300ms
	// 40.4ms 319ms
}

func ExampleLatency_Sample() {
	l, _ := model.ParseLatency("uniform:min=5ms,max=15ms")
	r := rand.New(rand.NewPCG(1, 2)) // seeded: the same draws every run
	d := l.Sample(r)
	fmt.Println(d >= 5_000_000 && d <= 15_000_000)
	// Output: true
}

func ExampleDecode() {
	file := `
backends:
  results:
    latency: {kind: lognormal, p50: 40ms, p99: 20ms}
`
	_, err := model.Decode(strings.NewReader(file), "scenario.yaml")
	fmt.Println(err)
	// Output: scenario.yaml:4: backends.results.latency.p99: p99 (20ms) is below p50 (40ms)
}

func ExampleMatchRoute() {
	route, ok := model.MatchRoute("projects", "GET", "/projects/3/settings")
	fmt.Println(route, ok)
	cfg := model.Default()
	fmt.Println(cfg.RouteLatency("projects", route))
	// Output:
	// get_settings true
	// fixed:10ms
}
