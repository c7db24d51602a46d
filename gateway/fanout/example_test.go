package fanout_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"fanout/gateway/fanout"
)

// The results page of an experiment needs the experiment, its layer and its
// project's settings (found through the experiment's fields) and its results.
// The references in the paths are the dependency graph.
func ExampleCompile() {
	plan, err := fanout.Compile("getExperimentResults", []fanout.CallSpec{
		{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"},
		{Name: "layer", Backend: "layers", Path: "/layers/{experiment.layer_id}"},
		{Name: "settings", Backend: "projects", Path: "/projects/{experiment.project_id}/settings", Optional: true},
		{Name: "results", Backend: "results", Path: "/results/{experiment_id}"},
	}, []string{"experiment_id"})
	if err != nil {
		fmt.Println(err)
		return
	}
	for level, calls := range plan.Levels() {
		fmt.Print("level ", level, ":")
		for _, i := range calls {
			fmt.Print(" ", plan.Calls()[i].Spec.Name)
		}
		fmt.Println()
	}
	latency := map[string]time.Duration{"experiments": 20 * time.Millisecond, "layers": 15 * time.Millisecond,
		"projects": 10 * time.Millisecond, "results": 40 * time.Millisecond}
	d := func(c fanout.Call) time.Duration { return latency[c.Spec.Backend] }
	fmt.Println("critical path", plan.CriticalPath(d), "levels", plan.LevelSum(d), "sum", plan.Sum(d))

	_, err = fanout.Compile("broken", []fanout.CallSpec{
		{Name: "a", Backend: "experiments", Path: "/a/{b.id}"},
		{Name: "b", Backend: "experiments", Path: "/b/{a.id}"},
	}, nil)
	fmt.Println(err)
	// Output:
	// level 0: experiment results
	// level 1: layer settings
	// critical path 40ms levels 55ms sum 85ms
	// compile plan broken: call "a": dependency cycle a -> b -> a
}

func ExampleExecutor() {
	plan, err := fanout.Compile("getExperimentLayer", []fanout.CallSpec{
		{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"},
		{Name: "layer", Backend: "layers", Path: "/layers/{experiment.layer_id}"},
	}, []string{"experiment_id"})
	if err != nil {
		fmt.Println(err)
		return
	}
	exec, err := fanout.New(fanout.ModeConcurrent, fanout.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	// A real Doer sends HTTP requests; this one answers from memory.
	backend := fanout.DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		fmt.Println(backend, method, path)
		if backend == "experiments" {
			return 200, []byte(`{"id":"42","layer_id":"a/7"}`), nil
		}
		return 200, []byte(`{"id":"a/7"}`), nil
	})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	res := exec.Execute(ctx, plan, fanout.ParamMap{"experiment_id": "42"}, backend)
	defer res.Release()
	for i, o := range res.Outcomes {
		fmt.Println(plan.Calls()[i].Spec.Name, o.Status, string(o.Body))
	}
	// Output:
	// experiments GET /experiments/42
	// layers GET /layers/a%2F7
	// experiment 200 {"id":"42","layer_id":"a/7"}
	// layer 200 {"id":"a/7"}
}

// A Policy acts on a call's path without the Executor knowing it: here
// one refuses the calls of a backend that is down for maintenance, so they
// fail at once instead of waiting for a timeout. A PolicyDoer binds it to
// the results call; the other call has no policy.
func ExamplePolicyDoer() {
	plan, err := fanout.Compile("getExperimentResults", []fanout.CallSpec{
		{Name: "experiment", Backend: "experiments", Path: "/experiments/{experiment_id}"},
		{Name: "results", Backend: "results", Path: "/results/{experiment_id}", Optional: true},
	}, []string{"experiment_id"})
	if err != nil {
		fmt.Println(err)
		return
	}
	backend := fanout.DoerFunc(func(ctx context.Context, backend, method, path string) (int, []byte, error) {
		return 200, []byte(`{"id":"42"}`), nil
	})
	exec, err := fanout.New(fanout.ModeSequential, fanout.Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	policies := make([][]fanout.Policy, plan.Len())
	policies[plan.Calls()[1].Index] = []fanout.Policy{maintenance{}}
	d := &fanout.PolicyDoer{Next: backend, Policies: policies}
	res := exec.Execute(context.Background(), plan, fanout.ParamMap{"experiment_id": "42"}, d)
	defer res.Release()
	for i, o := range res.Outcomes {
		fmt.Println(plan.Calls()[i].Spec.Name, o.Status, o.Err)
	}
	// Output:
	// experiment 200 <nil>
	// results 0 backend results: down for maintenance
}

// maintenance is a Policy that answers every call with an error, without
// passing it on.
type maintenance struct{}

var errDown = errors.New("down for maintenance")

func (maintenance) Do(ctx context.Context, c *fanout.Call, path string, next fanout.Next) (int, []byte, fanout.Via, error) {
	return 0, nil, fanout.ViaCall, fmt.Errorf("backend %s: %w", c.Spec.Backend, errDown)
}
