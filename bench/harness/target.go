package harness

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"fanout/bench/launch"
	"fanout/bench/scenario"
	"fanout/mockbackends/model"
)

// TargetVariant labels the runs against a gateway the harness did not
// start (Options.Target) when the scenario names several variants: that
// gateway runs one mode with its own settings, whichever the scenario
// names.
const TargetVariant = "target"

// CheckTarget says why s cannot run against a gateway that the harness does
// not start (opts.Target), or nil: a hostile tenant needs a token only the
// bench's own gateways hold, and an event that changes a backend needs
// that backend's mock admin address (opts.MockAdmin).
func CheckTarget(s *scenario.Scenario, opts Options) error {
	if opts.Target == "" {
		return nil
	}
	var problems []string
	for svc := range opts.MockAdmin {
		if !slices.Contains(model.Services, svc) {
			problems = append(problems, fmt.Sprintf("-mock-admin names %q, which is no backend (known: %s)", svc, strings.Join(model.Services, ", ")))
		}
	}
	if s.Hostile != nil {
		problems = append(problems, "its hostile tenant sends with a token that only the gateways bench starts hold: run it without -target")
	}
	if s.Cost != nil {
		problems = append(problems, "a cost scenario measures the CPU of gateways bench starts beside its floor: run it without -target")
	}
	if s.Fleet != nil {
		problems = append(problems, "a fleet scenario starts, restarts and kills a fleet of its own behind HAProxy: run it without -target")
	}
	for _, e := range s.Events {
		if e.Service != "" && opts.MockAdmin[e.Service] == "" {
			problems = append(problems, fmt.Sprintf("event %s changes %s: give its mock's admin address (-mock-admin %s=http://HOST:PORT)", e.Name, e.Service, e.Service))
		}
	}
	slices.Sort(problems)
	if len(problems) > 0 {
		return fmt.Errorf("%s: cannot run against %s:\n  %s", s.File, opts.Target, strings.Join(problems, "\n  "))
	}
	return nil
}

// targetVariants are the variants to run: the scenario's, or, against a
// running gateway, one: the scenario's if it names one (the user's word
// that the gateway runs it), else TargetVariant.
func targetVariants(s *scenario.Scenario, opts Options) []scenario.Variant {
	vs := s.Gateway.Variants()
	if opts.Target == "" {
		return vs
	}
	if len(vs) == 1 {
		v := vs[0]
		v.Args = nil // the running gateway has its own flags
		return []scenario.Variant{v}
	}
	return []scenario.Variant{{Label: TargetVariant}}
}

// remoteMocks returns the mocks behind a running gateway, from their admin
// addresses (nil for none), with the scenario's models set on each, so
// that the limits, computed from those models, describe them.
func remoteMocks(ctx context.Context, s *scenario.Scenario, admin map[string]string) (*mocks, error) {
	if len(admin) == 0 {
		return nil, nil
	}
	m := &mocks{addrs: admin}
	for svc := range admin {
		if err := m.setModel(ctx, svc, s.Backends[svc]); err != nil {
			return nil, fmt.Errorf("mocks behind %s: %w", svc, err)
		}
	}
	return m, nil
}

// unknownMocks names the backends of model.Services whose mocks the
// harness cannot reach, against a running gateway: their latencies, and so
// the limits, are unknown.
func (r *runner) unknownMocks() []string {
	if r.opts.Target == "" {
		return nil
	}
	var out []string
	for _, svc := range model.Services {
		if r.opts.MockAdmin[svc] == "" {
			out = append(out, svc)
		}
	}
	return out
}

// targetSplit is the Split of a run against a running gateway: nothing to
// split here, where only the load generator runs.
func targetSplit(cpus []int, target string) launch.Split {
	return launch.Split{CPUs: cpus, Note: "the gateway under test runs elsewhere (" + target + "): this machine runs the load generator, and its CPU is not measured"}
}

// bringMocks starts the scenario's mock backends, or, against a running
// gateway, reaches the ones given (none: nil). The func it returns closes
// their log.
func (r *runner) bringMocks(ctx context.Context, seed uint64) (*mocks, func(), error) {
	if r.opts.Target != "" {
		m, err := remoteMocks(ctx, r.s, r.opts.MockAdmin)
		return m, func() {}, err
	}
	mlog, closeLog := r.logs("mockbackends")
	m, err := startMocks(ctx, r.opts.Bins.Mocks, r.s, seed, r.dir, mlog)
	if err != nil {
		closeLog()
		return nil, nil, err
	}
	return m, closeLog, nil
}

// gatewayCPU is the CPU time gw has used so far, 0 for a gateway the
// harness did not start (nil).
func gatewayCPU(gw *launch.Proc) (time.Duration, error) {
	if gw == nil {
		return 0, nil
	}
	return gw.CPUTime()
}
