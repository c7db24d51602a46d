package launch

import (
	"fmt"
	"strconv"
	"strings"
)

// Split says how the bench shares the CPUs it may use between the gateway
// under test and the load side (the load generator, which runs inside the
// bench process, and the mock backends). On CPUs of its own, the gateway's
// figures describe the gateway: on shared ones, a busy generator steals the
// CPU the gateway would have used, and the capacity found is the machine's.
//
// The zero value is no split: every process runs on every CPU.
type Split struct {
	// CPUs are the CPUs the bench may use (its affinity when it started).
	CPUs []int `json:"cpus"`
	// Gateway and Load are the CPUs of the gateway and of the load side;
	// both empty when the machine is not split.
	Gateway []int `json:"gateway_cpus,omitempty"`
	Load    []int `json:"load_cpus,omitempty"`
	// GatewayProcs and LoadProcs are the GOMAXPROCS each side runs with:
	// as many as its CPUs, so that neither schedules more threads than
	// it has CPUs for.
	GatewayProcs int `json:"gateway_gomaxprocs,omitempty"`
	LoadProcs    int `json:"load_gomaxprocs,omitempty"`
	// Note says, when the machine is not split, why; the report shows it
	// at the top.
	Note string `json:"note,omitempty"`
}

// On reports whether the gateway runs on CPUs of its own.
func (s Split) On() bool { return len(s.Gateway) > 0 && len(s.Load) > 0 }

// MinSplitCPUs is the fewest CPUs the bench splits: one for the gateway and
// one for the load side.
//
// Two CPUs are split one and one, because only then is a step's load side
// measurable: its generator and mocks share one known CPU, so their CPU
// time over the step says whether they ran out of it (a step that did is
// flagged and sets no capacity), and the gateway's figures are those of
// one CPU, which mean the same on any machine. Unsplit, the three compete
// for both CPUs, and how much the gateway gets depends on how hard the
// generator works. Measured on a 2-core machine shared with other builds
// (load average 6 to 10), the results page at 500 to 3,000 req/s in
// sequential and concurrent mode: split, the generator and the mocks used
// 26 to 61 % of their CPU together, never saturated, so on such a machine
// the gateway's CPU runs out first. The other builds on the machine
// weighed on both arrangements more than the split did, which the split
// cannot help: the report records the load average (Env.LoadAverage).
const MinSplitCPUs = 2

// PlanSplit decides the split of cpus, the CPUs the bench may use: from
// MinSplitCPUs on, the gateway gets the upper half (one CPU of two or
// three), the load side the rest. The lower CPUs go to the load side
// because the kernel tends to route interrupts, the network's included, to
// the first ones, and the generator and the mocks do most of the network
// work. Fewer CPUs are not split, and the Split's Note says so.
func PlanSplit(cpus []int) Split {
	s := Split{CPUs: cpus}
	if len(cpus) < MinSplitCPUs {
		s.Note = fmt.Sprintf("%s: too small to split; the gateway shares its CPUs with the load generator and the mock backends, "+
			"so its figures describe this machine as much as the gateway", countCPUs(len(cpus)))
		return s
	}
	half := len(cpus) / 2
	s.Load = cpus[:len(cpus)-half]
	s.Gateway = cpus[len(cpus)-half:]
	s.GatewayProcs, s.LoadProcs = len(s.Gateway), len(s.Load)
	return s
}

// Unsplit is the Split of a run told not to split cpus (bench -split off):
// its Note says the gateway shared them.
func Unsplit(cpus []int, why string) Split {
	return Split{CPUs: cpus, Note: fmt.Sprintf("not split (%s); the gateway shared the %s with the load generator and the mock backends, "+
		"so its figures describe this machine as much as the gateway", why, countCPUs(len(cpus)))}
}

// Describe says in a phrase how the CPUs were shared: "gateway on CPU 1
// (GOMAXPROCS 1), load generator and mock backends on CPU 0 (GOMAXPROCS
// 1)", or the Note.
func (s Split) Describe() string {
	if !s.On() {
		return s.Note
	}
	return fmt.Sprintf("gateway on %s (GOMAXPROCS %d), load generator and mock backends on %s (GOMAXPROCS %d)",
		cpuList(s.Gateway), s.GatewayProcs, cpuList(s.Load), s.LoadProcs)
}

func countCPUs(n int) string {
	if n == 1 {
		return "1 CPU"
	}
	return strconv.Itoa(n) + " CPUs"
}

// cpuList formats CPUs as "CPU 1" or "CPUs 0, 1".
func cpuList(cpus []int) string {
	parts := make([]string, len(cpus))
	for i, c := range cpus {
		parts[i] = strconv.Itoa(c)
	}
	if len(cpus) == 1 {
		return "CPU " + parts[0]
	}
	return "CPUs " + strings.Join(parts, ", ")
}

// gomaxprocsEnv is the environment that sets a Go program's GOMAXPROCS to
// the number of cpus (none: nothing set).
func gomaxprocsEnv(cpus []int) []string {
	if len(cpus) == 0 {
		return nil
	}
	return []string{"GOMAXPROCS=" + strconv.Itoa(len(cpus))}
}
