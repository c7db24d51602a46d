package report

import (
	"fmt"
	"strings"

	"fanout/bench/load"
	"fanout/bench/result"
)

// writeMachine says, under the report's first line, how the gateway shared
// the machine: on CPUs of its own, or not (then as a warning, since its
// figures describe the machine too), and which steps ran out of CPU on the
// load side.
func writeMachine(b *strings.Builder, s *result.Scenario) {
	sp := s.Env.Split
	switch {
	case s.Target != "":
		fmt.Fprintf(b, "Against a running gateway, %s: bench started no gateway, so the gateway's CPU, memory and policies were not measured.\n\n", s.Target)
	case sp == nil:
	case sp.On():
		fmt.Fprintf(b, "CPUs: %s.\n\n", sp.Describe())
	default:
		fmt.Fprintf(b, "> **The gateway had no CPUs of its own**: %s.\n\n", sp.Note)
	}
	if e := s.Env; e.Cores > 0 && e.LoadAverage > float64(e.Cores) {
		fmt.Fprintf(b, "> **The machine was busy**: its load average was %.1f on %d CPUs when the run started, so other processes competed for the CPUs of the gateway and of the load side.\n\n", e.LoadAverage, e.Cores)
	}
	var saturated []string
	for i := range s.Runs {
		if r := &s.Runs[i]; r.LoadSaturated {
			saturated = append(saturated, fmt.Sprintf("%s at %s req/s", Label(r.Variant, r.Mode, r.PoolSize), load.FormatRate(r.Rate)))
		}
	}
	if len(saturated) > 0 {
		fmt.Fprintf(b, "> **The load side ran out of CPU** in %d step(s): %s. The load generator and the mock backends used, or waited for, nearly all of their CPUs there: those steps describe them as much as the gateway, and no capacity rests on them.\n\n",
			len(saturated), strings.Join(saturated, ", "))
	}
}

// LoadSaturatedText says that a run's load side ran out of CPU, with the
// shares of its CPUs the generator and the mocks used and the load side
// waited for: "load saturated (generator 61 %, mocks 33 %, waiting 20 %
// of its CPUs)".
func LoadSaturatedText(r *result.Run) string {
	return fmt.Sprintf("load saturated (generator %.0f %%, mocks %.0f %%, waiting %.0f %% of its CPUs)", 100*r.GeneratorCPUShare, 100*r.MocksCPUShare, 100*r.LoadWaitShare)
}

// splitText names how a run shared its CPUs, for compare's warning on runs
// that shared them otherwise: "" where the run did not record it.
func splitText(e result.Env) string {
	if e.Split == nil {
		return ""
	}
	if !e.Split.On() {
		return "not split"
	}
	return e.Split.Describe()
}
