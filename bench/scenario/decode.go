package scenario

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"fanout/bench/expect"
	"fanout/mockbackends/model"
)

// Error is a problem with one field of a scenario file: the same
// "file:line: field.path: reason" error the mock backends' config uses, so a
// problem in a scenario's backends: section reads like any other.
type Error = model.FieldError

// LoadFile reads and validates the scenario file at path.
func LoadFile(path string) (*Scenario, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("read scenario: %w", err)
	}
	defer f.Close()
	return Decode(f, path)
}

// Decode reads and validates one scenario; name is the file name used in
// errors and the default scenario name.
func Decode(r io.Reader, name string) (*Scenario, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", name, err)
	}
	d := &decoder{file: name}
	s, err := d.decode(src)
	if err != nil {
		return nil, err
	}
	s.File = name
	s.Source = src
	if s.Name == "" {
		s.Name = strings.TrimSuffix(filepath.Base(name), filepath.Ext(name))
	}
	return s, nil
}

type decoder struct{ file string }

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) error {
	e := &Error{File: d.file, Path: path, Reason: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// fields checks that n is a mapping whose keys are all in allowed, and
// returns the value node of each key.
func (d *decoder) fields(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, path, "want a mapping, found %s", kindName(n))
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		if !slices.Contains(allowed, key) {
			return nil, d.errf(k, join(path, key), "unknown field (known: %s)", strings.Join(allowed, ", "))
		}
		if _, dup := out[key]; dup {
			return nil, d.errf(k, join(path, key), "appears twice")
		}
		out[key] = v
	}
	return out, nil
}

func join(p, q string) string {
	if p == "" {
		return q
	}
	return p + "." + q
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (d *decoder) str(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		return "", d.errf(n, path, "want a string, found %s", kindName(n))
	}
	return n.Value, nil
}

func (d *decoder) float(n *yaml.Node, path string) (float64, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, d.errf(n, path, "want a number, found %s", kindName(n))
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(n.Value), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, d.errf(n, path, "want a number, found %q", n.Value)
	}
	return v, nil
}

func (d *decoder) positive(n *yaml.Node, path string) (float64, error) {
	v, err := d.float(n, path)
	if err == nil && v <= 0 {
		err = d.errf(n, path, "must be positive, found %v", v)
	}
	return v, err
}

func (d *decoder) int(n *yaml.Node, path string, min int) (int, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, d.errf(n, path, "want an integer, found %s", kindName(n))
	}
	v, err := strconv.Atoi(strings.TrimSpace(n.Value))
	if err != nil {
		return 0, d.errf(n, path, "want an integer, found %q", n.Value)
	}
	if v < min {
		return 0, d.errf(n, path, "must be at least %d, found %d", min, v)
	}
	return v, nil
}

func (d *decoder) duration(n *yaml.Node, path string) (time.Duration, error) {
	if n.Kind != yaml.ScalarNode {
		return 0, d.errf(n, path, "want a duration such as 500ms or 2s, found %s", kindName(n))
	}
	v, err := time.ParseDuration(strings.TrimSpace(n.Value))
	if err != nil {
		if n.Value == "0" {
			return 0, nil
		}
		return 0, d.errf(n, path, "want a duration such as 500ms or 2s, found %q", n.Value)
	}
	if v < 0 {
		return 0, d.errf(n, path, "must not be negative, found %v", v)
	}
	return v, nil
}

func (d *decoder) list(n *yaml.Node, path string) ([]*yaml.Node, error) {
	if n.Kind != yaml.SequenceNode {
		return nil, d.errf(n, path, "want a list, found %s", kindName(n))
	}
	return n.Content, nil
}

func (d *decoder) decode(src []byte) (*Scenario, error) {
	var doc yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(src))
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: d.file, Reason: "empty file"}
		}
		return nil, &Error{File: d.file, Reason: strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &Error{File: d.file, Line: extra.Line, Reason: "more than one YAML document"}
	}
	if len(doc.Content) != 1 {
		return nil, &Error{File: d.file, Reason: "empty file"}
	}
	root := doc.Content[0]
	f, err := d.fields(root, "", "name", "description", "backends", "gateway", "targets", "load", "events", "expect")
	if err != nil {
		return nil, err
	}
	s := &Scenario{}
	if n := f["name"]; n != nil {
		if s.Name, err = d.str(n, "name"); err != nil {
			return nil, err
		}
		if !validName(s.Name) {
			return nil, d.errf(n, "name", "must be letters, digits, '-' or '_' (it names a directory), found %q", s.Name)
		}
	}
	if n := f["description"]; n != nil {
		if s.Description, err = d.str(n, "description"); err != nil {
			return nil, err
		}
	}
	if n := f["backends"]; n != nil {
		if s.Backends, err = d.backends(n); err != nil {
			return nil, err
		}
	}
	if s.Gateway, err = d.gateway(f["gateway"]); err != nil {
		return nil, err
	}
	n := f["targets"]
	if n == nil {
		return nil, d.errf(root, "targets", "required: at least one target")
	}
	if s.Targets, err = d.targets(n); err != nil {
		return nil, err
	}
	n = f["load"]
	if n == nil {
		return nil, d.errf(root, "load", "required: rates or a capacity search")
	}
	if s.Load, err = d.load(n); err != nil {
		return nil, err
	}
	if n := f["events"]; n != nil {
		if s.Events, err = d.events(n, s.Load); err != nil {
			return nil, err
		}
	}
	if n := f["expect"]; n != nil {
		if s.Expect, err = d.expectations(n, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func validName(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c == '-' || c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// backends decodes the mocks' model with the model package's own strict
// decoder, and gives its errors the file name.
func (d *decoder) backends(n *yaml.Node) (model.Config, error) {
	var c model.Config
	if err := n.Decode(&c); err != nil {
		var fe *model.FieldError
		if errors.As(err, &fe) {
			line := fe.Line
			if line == 0 {
				line = n.Line
			}
			return nil, &Error{File: d.file, Line: line, Path: fe.Path, Reason: fe.Reason}
		}
		return nil, d.errf(n, "backends", "%v", err)
	}
	return c, nil
}

func (d *decoder) gateway(n *yaml.Node) (Gateway, error) {
	g := Gateway{Modes: slices.Clone(Modes), PoolSizes: []int{DefaultPoolSize}}
	if n == nil {
		return g, nil
	}
	f, err := d.fields(n, "gateway", "modes", "pool_sizes", "max_conns", "deadline", "backend_timeout")
	if err != nil {
		return g, err
	}
	if m := f["modes"]; m != nil {
		items, err := d.list(m, "gateway.modes")
		if err != nil {
			return g, err
		}
		if len(items) == 0 {
			return g, d.errf(m, "gateway.modes", "empty: name at least one of %s", strings.Join(Modes, ", "))
		}
		g.Modes = nil
		for i, it := range items {
			p := fmt.Sprintf("gateway.modes[%d]", i)
			mode, err := d.str(it, p)
			if err != nil {
				return g, err
			}
			if !slices.Contains(Modes, mode) {
				return g, d.errf(it, p, "unknown mode %q (known: %s)", mode, strings.Join(Modes, ", "))
			}
			if slices.Contains(g.Modes, mode) {
				return g, d.errf(it, p, "mode %q appears twice", mode)
			}
			g.Modes = append(g.Modes, mode)
		}
	}
	if m := f["pool_sizes"]; m != nil {
		items, err := d.list(m, "gateway.pool_sizes")
		if err != nil {
			return g, err
		}
		if len(items) == 0 {
			return g, d.errf(m, "gateway.pool_sizes", "empty")
		}
		if !slices.Contains(g.Modes, "pool") {
			return g, d.errf(m, "gateway.pool_sizes", "set, but the modes do not include pool")
		}
		g.PoolSizes = nil
		for i, it := range items {
			p := fmt.Sprintf("gateway.pool_sizes[%d]", i)
			v, err := d.int(it, p, 1)
			if err != nil {
				return g, err
			}
			if slices.Contains(g.PoolSizes, v) {
				return g, d.errf(it, p, "size %d appears twice", v)
			}
			g.PoolSizes = append(g.PoolSizes, v)
		}
	}
	if m := f["max_conns"]; m != nil {
		if g.MaxConns, err = d.int(m, "gateway.max_conns", 1); err != nil {
			return g, err
		}
	}
	if m := f["deadline"]; m != nil {
		if g.Deadline, err = d.duration(m, "gateway.deadline"); err != nil {
			return g, err
		}
	}
	if m := f["backend_timeout"]; m != nil {
		if g.BackendTimeout, err = d.duration(m, "gateway.backend_timeout"); err != nil {
			return g, err
		}
	}
	return g, nil
}

func (d *decoder) targets(n *yaml.Node) ([]Target, error) {
	items, err := d.list(n, "targets")
	if err != nil {
		return nil, err
	}
	if len(items) == 0 {
		return nil, d.errf(n, "targets", "empty: name at least one target")
	}
	var out []Target
	for i, it := range items {
		p := fmt.Sprintf("targets[%d]", i)
		f, err := d.fields(it, p, "name", "method", "path", "ids", "weight", "body")
		if err != nil {
			return nil, err
		}
		t := Target{Method: "GET", Weight: 1}
		if m := f["name"]; m != nil {
			if t.Name, err = d.str(m, p+".name"); err != nil {
				return nil, err
			}
		}
		if m := f["method"]; m != nil {
			if t.Method, err = d.str(m, p+".method"); err != nil {
				return nil, err
			}
			t.Method = strings.ToUpper(t.Method)
			if !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, t.Method) {
				return nil, d.errf(m, p+".method", "unknown method %q", t.Method)
			}
		}
		m := f["path"]
		if m == nil {
			return nil, d.errf(it, p+".path", "required")
		}
		if t.Path, err = d.str(m, p+".path"); err != nil {
			return nil, err
		}
		if !strings.HasPrefix(t.Path, "/") {
			return nil, d.errf(m, p+".path", "must start with '/', found %q", t.Path)
		}
		rest := strings.ReplaceAll(t.Path, "{id}", "")
		if strings.ContainsAny(rest, "{}") {
			return nil, d.errf(m, p+".path", "the only placeholder is {id}, found %q", t.Path)
		}
		if strings.ContainsAny(t.Path, " \t\n") {
			return nil, d.errf(m, p+".path", "must not contain spaces")
		}
		if m := f["ids"]; m != nil {
			if t.IDs, err = d.idRange(m, p+".ids"); err != nil {
				return nil, err
			}
			if !strings.Contains(t.Path, "{id}") {
				return nil, d.errf(m, p+".ids", "set, but the path has no {id}")
			}
		} else if strings.Contains(t.Path, "{id}") {
			return nil, d.errf(it, p+".ids", "required: the path has {id}")
		}
		if m := f["weight"]; m != nil {
			if t.Weight, err = d.positive(m, p+".weight"); err != nil {
				return nil, err
			}
		}
		if m := f["body"]; m != nil {
			if t.Body, err = d.str(m, p+".body"); err != nil {
				return nil, err
			}
		}
		if t.Name == "" {
			t.Name = t.Method + " " + t.Path
		}
		out = append(out, t)
	}
	return out, nil
}

// idRange reads "1-1000" or {min: 1, max: 1000}.
func (d *decoder) idRange(n *yaml.Node, path string) (IDRange, error) {
	var r IDRange
	if n.Kind == yaml.ScalarNode {
		lo, hi, ok := strings.Cut(n.Value, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil {
			return r, d.errf(n, path, "want MIN-MAX (e.g. 1-1000) or {min, max}, found %q", n.Value)
		}
		r = IDRange{a, b}
	} else {
		f, err := d.fields(n, path, "min", "max")
		if err != nil {
			return r, err
		}
		if f["min"] == nil || f["max"] == nil {
			return r, d.errf(n, path, "want both min and max")
		}
		if r.Min, err = d.int(f["min"], path+".min", 0); err != nil {
			return r, err
		}
		if r.Max, err = d.int(f["max"], path+".max", 0); err != nil {
			return r, err
		}
	}
	if r.Min < 0 || r.Max < r.Min {
		return r, d.errf(n, path, "want 0 <= min <= max, found %d-%d", r.Min, r.Max)
	}
	return r, nil
}

func (d *decoder) load(n *yaml.Node) (Load, error) {
	l := Load{Warmup: DefaultWarmup, Duration: DefaultDuration, Timeout: DefaultTimeout, Seed: 1}
	f, err := d.fields(n, "load", "warmup", "duration", "rates", "capacity", "timeout", "seed")
	if err != nil {
		return l, err
	}
	if m := f["warmup"]; m != nil {
		if l.Warmup, err = d.duration(m, "load.warmup"); err != nil {
			return l, err
		}
	}
	if m := f["duration"]; m != nil {
		if l.Duration, err = d.duration(m, "load.duration"); err != nil {
			return l, err
		}
		if l.Duration == 0 {
			return l, d.errf(m, "load.duration", "must be positive")
		}
	}
	if m := f["timeout"]; m != nil {
		if l.Timeout, err = d.duration(m, "load.timeout"); err != nil {
			return l, err
		}
		if l.Timeout == 0 {
			return l, d.errf(m, "load.timeout", "must be positive")
		}
	}
	if m := f["seed"]; m != nil {
		v, err := d.int(m, "load.seed", 0)
		if err != nil {
			return l, err
		}
		l.Seed = uint64(v)
	}
	rates, capacity := f["rates"], f["capacity"]
	switch {
	case rates != nil && capacity != nil:
		return l, d.errf(capacity, "load.capacity", "set together with load.rates: choose one")
	case rates == nil && capacity == nil:
		return l, d.errf(n, "load", "want rates (a list of requests per second) or a capacity search")
	case rates != nil:
		items, err := d.list(rates, "load.rates")
		if err != nil {
			return l, err
		}
		if len(items) == 0 {
			return l, d.errf(rates, "load.rates", "empty")
		}
		for i, it := range items {
			p := fmt.Sprintf("load.rates[%d]", i)
			v, err := d.positive(it, p)
			if err != nil {
				return l, err
			}
			if slices.Contains(l.Rates, v) {
				return l, d.errf(it, p, "rate %v appears twice", v)
			}
			l.Rates = append(l.Rates, v)
		}
	default:
		c, err := d.capacity(capacity)
		if err != nil {
			return l, err
		}
		l.Capacity = c
	}
	return l, nil
}

func (d *decoder) capacity(n *yaml.Node) (*Capacity, error) {
	const p = "load.capacity"
	f, err := d.fields(n, p, "p99", "success", "start", "max", "step", "budget", "precision", "hold", "max_probe")
	if err != nil {
		return nil, err
	}
	c := &Capacity{Success: DefaultSuccess, Start: DefaultCapacityStart, Max: DefaultCapacityMax,
		Step: DefaultStep, Budget: DefaultBudget, Precision: DefaultPrecision, Hold: DefaultHold}
	m := f["p99"]
	if m == nil {
		return nil, d.errf(n, p+".p99", "required: the SLO's p99 latency")
	}
	if c.P99, err = d.duration(m, p+".p99"); err != nil {
		return nil, err
	}
	if c.P99 == 0 {
		return nil, d.errf(m, p+".p99", "must be positive")
	}
	if m := f["success"]; m != nil {
		if c.Success, err = d.float(m, p+".success"); err != nil {
			return nil, err
		}
		if c.Success <= 0 || c.Success > 1 {
			return nil, d.errf(m, p+".success", "want a fraction in (0, 1], found %v", c.Success)
		}
	}
	if m := f["start"]; m != nil {
		if c.Start, err = d.positive(m, p+".start"); err != nil {
			return nil, err
		}
	}
	if m := f["max"]; m != nil {
		if c.Max, err = d.positive(m, p+".max"); err != nil {
			return nil, err
		}
	}
	if c.Max < c.Start {
		return nil, d.errf(n, p+".max", "below start (%v < %v)", c.Max, c.Start)
	}
	if m := f["step"]; m != nil {
		if c.Step, err = d.duration(m, p+".step"); err != nil {
			return nil, err
		}
		if c.Step == 0 {
			return nil, d.errf(m, p+".step", "must be positive")
		}
	}
	if m := f["budget"]; m != nil {
		if c.Budget, err = d.duration(m, p+".budget"); err != nil {
			return nil, err
		}
	}
	if err := d.capacityHold(f, c); err != nil {
		return nil, err
	}
	if c.Budget < c.Step+c.Hold {
		return nil, d.errf(n, p+".budget", "shorter than one step and one hold (%v < %v + %v)", c.Budget, c.Step, c.Hold)
	}
	if m := f["precision"]; m != nil {
		if c.Precision, err = d.positive(m, p+".precision"); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// capacityHold reads load.capacity.hold and load.capacity.max_probe.
func (d *decoder) capacityHold(f map[string]*yaml.Node, c *Capacity) error {
	const p = "load.capacity"
	var err error
	if m := f["hold"]; m != nil {
		if c.Hold, err = d.duration(m, p+".hold"); err != nil {
			return err
		}
		if c.Hold == 0 {
			return d.errf(m, p+".hold", "must be positive")
		}
	}
	if m := f["max_probe"]; m != nil {
		if c.MaxProbe, err = d.duration(m, p+".max_probe"); err != nil {
			return err
		}
		if c.MaxProbe < max(c.Step, c.Hold) {
			return d.errf(m, p+".max_probe", "shorter than the step or the hold (%v)", max(c.Step, c.Hold))
		}
	}
	return nil
}

func (d *decoder) events(n *yaml.Node, l Load) ([]Event, error) {
	items, err := d.list(n, "events")
	if err != nil {
		return nil, err
	}
	if l.Capacity != nil && len(items) > 0 {
		return nil, d.errf(n, "events", "not supported with a capacity search")
	}
	var out []Event
	var last time.Duration
	names := map[string]bool{FirstPhase: true}
	for i, it := range items {
		p := fmt.Sprintf("events[%d]", i)
		f, err := d.fields(it, p, "at", "name", "service", "set", "restore")
		if err != nil {
			return nil, err
		}
		e := Event{Name: fmt.Sprintf("event%d", i+1)}
		m := f["at"]
		if m == nil {
			return nil, d.errf(it, p+".at", "required: the offset into the measured run")
		}
		if e.At, err = d.duration(m, p+".at"); err != nil {
			return nil, err
		}
		if e.At <= last || e.At >= l.Duration {
			return nil, d.errf(m, p+".at", "must be after the previous event and within load.duration (%v), found %v", l.Duration, e.At)
		}
		last = e.At
		if m := f["name"]; m != nil {
			if e.Name, err = d.str(m, p+".name"); err != nil {
				return nil, err
			}
			if !validName(e.Name) || strings.Contains(e.Name, "-") {
				return nil, d.errf(m, p+".name", "must be letters, digits or '_', found %q", e.Name)
			}
		}
		if names[e.Name] {
			return nil, d.errf(it, p+".name", "phase %q appears twice", e.Name)
		}
		names[e.Name] = true
		m = f["service"]
		if m == nil {
			return nil, d.errf(it, p+".service", "required")
		}
		if e.Service, err = d.str(m, p+".service"); err != nil {
			return nil, err
		}
		if !model.KnownService(e.Service) {
			return nil, d.errf(m, p+".service", "unknown service %q (known: %s)", e.Service, strings.Join(model.Services, ", "))
		}
		set, restore := f["set"], f["restore"]
		switch {
		case set != nil && restore != nil:
			return nil, d.errf(restore, p+".restore", "set together with set: choose one")
		case set == nil && restore == nil:
			return nil, d.errf(it, p, "want set (a service model) or restore: true")
		case restore != nil:
			if restore.Kind != yaml.ScalarNode || restore.Value != "true" {
				return nil, d.errf(restore, p+".restore", "want true")
			}
			e.Restore = true
		default:
			var c model.Config
			wrap := &yaml.Node{Kind: yaml.MappingNode, Line: set.Line, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: e.Service, Line: set.Line}, set}}
			if err := wrap.Decode(&c); err != nil {
				var fe *model.FieldError
				if errors.As(err, &fe) {
					line := fe.Line
					if line == 0 {
						line = set.Line
					}
					path := p + ".set" + strings.TrimPrefix(fe.Path, "backends."+e.Service)
					return nil, &Error{File: d.file, Line: line, Path: path, Reason: fe.Reason}
				}
				return nil, d.errf(set, p+".set", "%v", err)
			}
			e.Set = c[e.Service]
		}
		out = append(out, e)
	}
	return out, nil
}

// expectations parses each assertion and checks that every name in it means
// something in this scenario, so a typo fails before anything starts.
func (d *decoder) expectations(n *yaml.Node, s *Scenario) ([]*expect.Expectation, error) {
	items, err := d.list(n, "expect")
	if err != nil {
		return nil, err
	}
	labels := map[string]bool{}
	for _, v := range s.Gateway.Variants() {
		labels[v.Label] = true
	}
	phases := map[string]bool{}
	for _, ph := range s.Phases() {
		phases[ph] = true
	}
	var out []*expect.Expectation
	for i, it := range items {
		p := fmt.Sprintf("expect[%d]", i)
		src, err := d.str(it, p)
		if err != nil {
			return nil, err
		}
		e, err := expect.Parse(src)
		if err != nil {
			return nil, d.errf(it, p, "%v", err)
		}
		for _, name := range e.Names() {
			if err := checkName(name, s, labels, phases); err != nil {
				return nil, d.errf(it, p, "%s: %v", name, err)
			}
		}
		out = append(out, e)
	}
	return out, nil
}

func checkName(n expect.Name, s *Scenario, labels, phases map[string]bool) error {
	head := n.Parts[0]
	if _, ok := LimitNames[head]; ok {
		if n.HasRate {
			return fmt.Errorf("a limit does not depend on the rate")
		}
		switch len(n.Parts) {
		case 1:
			return nil
		case 2:
			if slices.Contains(LimitStats, n.Parts[1]) {
				return nil
			}
			return fmt.Errorf("unknown statistic %q of %s (known: %s)", n.Parts[1], head, strings.Join(LimitStats, ", "))
		}
		return fmt.Errorf("too many parts")
	}
	if !labels[head] {
		known := slices.Sorted(func(yield func(string) bool) {
			for k := range labels {
				if !yield(k) {
					return
				}
			}
		})
		return fmt.Errorf("%q is neither a variant of this scenario (%s) nor a limit (critical_path, sum)", head, strings.Join(known, ", "))
	}
	if n.HasRate {
		if s.Load.Capacity != nil {
			return fmt.Errorf("a capacity search has no fixed rates")
		}
		if !slices.Contains(s.Load.Rates, n.Rate) {
			return fmt.Errorf("rate %v is not one of load.rates", n.Rate)
		}
	}
	parts := n.Parts[1:]
	if len(parts) == 2 {
		if !phases[parts[0]] {
			return fmt.Errorf("unknown phase %q (phases: %s)", parts[0], strings.Join(s.Phases(), ", "))
		}
		parts = parts[1:]
	}
	if len(parts) != 1 {
		return fmt.Errorf("want VARIANT[@RATE][.PHASE].METRIC")
	}
	m := parts[0]
	if m == "capacity" {
		if s.Load.Capacity == nil {
			return fmt.Errorf("capacity needs a capacity search in load")
		}
		return nil
	}
	if _, ok := Metrics[m]; ok || IsStatusMetric(m) {
		return nil
	}
	return fmt.Errorf("unknown metric %q (known: %s, code_NNN)", m, strings.Join(slices.Sorted(mapKeys(Metrics)), ", "))
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
