package stage

import (
	"math"
	"sync"

	"fanout/bench/demo"
	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
)

// Scene is a preset of the stage: one act of `bench demo`, set up live.
type Scene struct {
	// Act is the demo act it plays (demo.Acts).
	Act string `json:"act"`
	// Caption names the lesson in one line, shown large on the page.
	Caption string  `json:"caption"`
	Gateway Gateway `json:"gateway"`
	// Rate is the offered rate, requests per second.
	Rate float64 `json:"rate"`
}

// Scenes returns the acts of `bench demo` as scenes, in the show's order,
// with the default backend models (which a scene restores). Their rates
// derive from those models as the demo's do: blocking serves 1 / backend
// time per request (85 ms by default, so about 12/s), a pool of N workers
// N times that.
func Scenes() []Scene { return scenes() }

var scenes = sync.OnceValue(func() []Scene {
	blocking := 1 / 0.085
	if l, err := demo.RouteLimits(demo.ResultsRoute, model.Default()); err == nil && l.Sum.P50 > 0 {
		blocking = 1 / l.Sum.P50.Seconds()
	}
	rate := func(f float64) float64 { return math.Round(f * blocking) }
	with := func(mode string, pool int) Gateway {
		g := DefaultGateway
		g.Mode, g.PoolSize = mode, pool
		return g
	}
	small := demo.DefaultSmallPool
	return []Scene{{
		// Past blocking's capacity, as the demo's load act takes it, so
		// the queue behind the lock grows for as long as the scene runs.
		Act:     "eventloop",
		Caption: "A blocking call in the event loop stalls everyone: every request queues behind one lock",
		Gateway: with(fanout.ModeBlocking, DefaultGateway.PoolSize),
		Rate:    rate(demo.DefaultLoadFactors[1]),
	}, {
		// At half of blocking's capacity: nothing queues, so p50 sits
		// on the sum line and the waterfall shows the calls one by one.
		Act:     "results",
		Caption: "Sequential fan-out pays the sum of its calls; concurrent pays only the critical path",
		Gateway: with(fanout.ModeSequential, DefaultGateway.PoolSize),
		Rate:    rate(demo.DefaultLoadFactors[0]),
	}, {
		// The demo's highest rate, which breaks blocking and the pool.
		Act:     "load",
		Caption: "Concurrent fan-out holds the critical path at many times what blocking serves",
		Gateway: with(fanout.ModeConcurrent, DefaultGateway.PoolSize),
		Rate:    rate(demo.DefaultLoadFactors[len(demo.DefaultLoadFactors)-1]),
	}, {
		// Past a small pool's capacity, workers / backend time.
		Act:     "pool",
		Caption: "A worker pool caps throughput at workers / latency: past it, requests wait for a worker",
		Gateway: with(fanout.ModePool, small),
		Rate:    rate(float64(small) * demo.DefaultPoolLoads[len(demo.DefaultPoolLoads)-1]),
	}}
})
