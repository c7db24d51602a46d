package report

import (
	"bytes"
	"strings"
	"testing"

	"fanout/bench/capacity"
	"fanout/bench/launch"
	"fanout/bench/result"
)

func TestMarkdownSaysHowTheMachineWasShared(t *testing.T) {
	for _, tc := range []struct {
		name  string
		split *launch.Split
		want  string // near the top, before the limits
	}{
		// A machine too small to split says so, as a warning, at the top.
		{"too small", ptr(launch.PlanSplit([]int{0})), "> **The gateway had no CPUs of its own**: 1 CPU: too small to split"},
		// A split says which CPUs each side had.
		{"split", ptr(launch.PlanSplit([]int{0, 1})), "CPUs: gateway on CPU 1 (GOMAXPROCS 1), load generator and mock backends on CPU 0 (GOMAXPROCS 1)."},
		// A run told not to split says so too.
		{"off", ptr(launch.Unsplit([]int{0, 1}, "-split off")), "> **The gateway had no CPUs of its own**: not split (-split off)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := fixture()
			s.Env.Split = tc.split
			var b bytes.Buffer
			if err := Markdown(&b, s, nil); err != nil {
				t.Fatal(err)
			}
			out := b.String()
			i := strings.Index(out, tc.want)
			if i < 0 || i > strings.Index(out, "## Limits") {
				t.Errorf("the report lacks %q before its limits:\n%s", tc.want, out[:min(len(out), 800)])
			}
		})
	}
}

func TestMarkdownFlagsASaturatedLoadSide(t *testing.T) {
	s := fixture()
	s.Env.Cores, s.Env.LoadAverage = 2, 9.8
	s.Runs[3].LoadSaturated, s.Runs[3].GeneratorCPUShare, s.Runs[3].MocksCPUShare, s.Runs[3].LoadWaitShare = true, 0.41, 0.33, 0.2
	var b bytes.Buffer
	if err := Markdown(&b, s, nil); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"> **The load side ran out of CPU** in 1 step(s): concurrent at 200 req/s.",
		"**load saturated (generator 41 %, mocks 33 %, waiting 20 % of its CPUs)**",
		"> **The machine was busy**: its load average was 9.8 on 2 CPUs",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the report lacks %q", want)
		}
	}
}

func TestCapacityTextOfALoadBoundSearch(t *testing.T) {
	c := result.Capacity{Result: capacity.Result{Capacity: 1400, Searched: 1450, Ceiling: 1500, LoadBound: true}}
	want := "at least 1400 (load-bound: the load side could not offer 1500)"
	if got := CapacityText(c); got != want {
		t.Errorf("CapacityText = %q, want %q", got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func TestCompareWarnsOfSaturationAndSplits(t *testing.T) {
	a, b := fixture(), fixture()
	a.Env.Split = ptr(launch.PlanSplit([]int{0, 1}))
	b.Env.Split = ptr(launch.Unsplit([]int{0, 1}, "-split off"))
	b.Runs[3].LoadSaturated = true
	var out bytes.Buffer
	if err := CompareSides(&out, Side{Name: "a", Runs: []*result.Scenario{a}}, Side{Name: "b", Runs: []*result.Scenario{b}}, CompareOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"A and B differ in the CPUs' split (gateway on CPU 1",
		"vs not split)",
		"concurrent @ 200 req/s was load saturated in B",
	} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("compare lacks %q:\n%s", want, out.String()[:min(out.Len(), 1500)])
		}
	}
}
