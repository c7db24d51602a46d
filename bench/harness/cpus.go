package harness

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"fanout/bench/launch"
	"fanout/bench/load"
	"fanout/bench/result"
)

// splitCPUs decides how the CPUs are shared between the gateway and the
// load side (launch.PlanSplit, or none where opts says so) and pins this
// process, whose goroutines generate the load, to the load side's CPUs.
// The mock backends, started afterwards, inherit that affinity from the
// thread that forks them; the gateway is started on its own CPUs
// (launch.Gateway.CPUs). The func it returns unpins this process.
func splitCPUs(opts Options) (launch.Split, func()) {
	cpus, err := launch.AvailableCPUs()
	if err != nil {
		return launch.Split{Note: fmt.Sprintf("not split: %v", err)}, func() {}
	}
	if opts.Target != "" {
		return targetSplit(cpus, opts.Target), func() {}
	}
	if opts.NoSplit != "" {
		return launch.Unsplit(cpus, opts.NoSplit), func() {}
	}
	split := launch.PlanSplit(cpus)
	if !split.On() {
		return split, func() {}
	}
	restore, err := launch.PinProcess(split.Load)
	if err != nil {
		return launch.Unsplit(cpus, err.Error()), func() {}
	}
	return split, func() {
		if err := restore(); err != nil {
			slog.Warn("unpin the bench", "err", err)
		}
	}
}

// loadCPUs is how many CPUs the load side may use: its own under a split,
// else all of them.
func loadCPUs(s launch.Split) int {
	if s.On() {
		return len(s.Load)
	}
	return max(1, len(s.CPUs))
}

// loadMeter measures the mock backends' CPU over a measured attack.
type loadMeter struct {
	mocks *launch.Proc
	cpu0  time.Duration
	t0    time.Time
	ok    bool
}

// meterLoad starts measuring the mocks' CPU (nothing for mocks that run
// elsewhere, which have no process here).
func meterLoad(m *mocks) *loadMeter {
	lm := &loadMeter{t0: time.Now()}
	if m == nil || m.proc == nil {
		return lm
	}
	cpu, err := m.proc.CPUTime()
	if err != nil {
		slog.Warn("read the mocks' CPU time", "err", err)
		return lm
	}
	lm.mocks, lm.cpu0, lm.ok = m.proc, cpu, true
	return lm
}

// stop records, in run, the mocks' CPU since meterLoad and whether the load
// side, generator and mocks on cpus CPUs, was saturated.
func (lm *loadMeter) stop(_ context.Context, run *result.Run, cpus int) {
	wall := time.Since(lm.t0)
	if lm.ok {
		if cpu, err := lm.mocks.CPUTime(); err == nil {
			run.MocksCPU = cpu - lm.cpu0
			if wall > 0 && cpus > 0 {
				run.MocksCPUShare = float64(run.MocksCPU) / float64(wall) / float64(cpus)
			}
		} else {
			slog.Warn("read the mocks' CPU time", "err", err)
		}
	}
	run.LoadSaturated = Saturated(run.GeneratorCPUShare, run.MocksCPUShare)
}

// Saturated reports whether a load side whose generator used generator and
// whose mocks used mocks of the same CPUs ran out of them
// (load.SaturatedShare).
func Saturated(generator, mocks float64) bool {
	return generator+mocks >= load.SaturatedShare
}
