package harness

import (
	"fmt"
	"log/slog"
	"os"
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

// loadMeter measures the load side over a measured attack: the mocks' CPU,
// and the time the mocks and this process, the generator, waited for one.
type loadMeter struct {
	mocks *launch.Proc
	cpu0  time.Duration
	wait0 time.Duration
	t0    time.Time
	ok    bool // the mocks' figures were read
	wok   bool // the waits were read
}

// waits returns the time this process and the mocks (if they run here)
// have waited for a CPU so far.
func (lm *loadMeter) waits() (time.Duration, error) {
	w, err := launch.ReadWait(os.Getpid())
	if err != nil || lm.mocks == nil {
		return w, err
	}
	m, err := launch.ReadWait(lm.mocks.Pid())
	return w + m, err
}

// meterLoad starts measuring the load side (the mocks only where they run
// here, as a process of the harness's).
func meterLoad(m *mocks) *loadMeter {
	lm := &loadMeter{t0: time.Now()}
	if m != nil && m.proc != nil {
		if cpu, err := m.proc.CPUTime(); err != nil {
			slog.Warn("read the mocks' CPU time", "err", err)
		} else {
			lm.mocks, lm.cpu0, lm.ok = m.proc, cpu, true
		}
	}
	w, err := lm.waits()
	lm.wait0, lm.wok = w, err == nil
	return lm
}

// stop records, in run, the mocks' CPU and the load side's wait since
// meterLoad, and whether the load side, on cpus CPUs, was saturated.
func (lm *loadMeter) stop(run *result.Run, cpus int) {
	wall := time.Since(lm.t0)
	share := func(d time.Duration) float64 {
		if wall <= 0 || cpus <= 0 {
			return 0
		}
		return float64(d) / float64(wall) / float64(cpus)
	}
	if lm.ok {
		if cpu, err := lm.mocks.CPUTime(); err == nil {
			run.MocksCPU = cpu - lm.cpu0
			run.MocksCPUShare = share(run.MocksCPU)
		} else {
			slog.Warn("read the mocks' CPU time", "err", err)
		}
	}
	if w, err := lm.waits(); lm.wok && err == nil {
		// The generators of a split step waited in processes of their
		// own, which measured it (load.Shard.Wait).
		run.LoadWait = w - lm.wait0 + run.GeneratorWait
		run.LoadWaitShare = share(run.LoadWait)
	}
	run.LoadSaturated = Saturated(run.GeneratorCPUShare, run.MocksCPUShare, run.LoadWaitShare)
}

// Saturated reports whether a load side whose generator used generator,
// whose mocks used mocks, and whose threads waited wait of the same CPUs
// (each a share of them) used or wanted all of them
// (load.SaturatedShare).
func Saturated(generator, mocks, wait float64) bool {
	return generator+mocks+wait >= load.SaturatedShare
}
