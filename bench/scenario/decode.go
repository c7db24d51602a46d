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
// errors and the default scenario name. A file that is not one YAML mapping
// fails with one *Error; otherwise every problem found is returned at once,
// as Errors.
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

// Errors is every problem found in one scenario file, in line order. A
// file is read to its end so that one run of bench (or -check) lists them
// all, not one per edit.
type Errors []*Error

// Error prints one problem per line.
func (e Errors) Error() string {
	lines := make([]string, len(e))
	for i, fe := range e {
		lines[i] = fe.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap lets errors.As find each *Error.
func (e Errors) Unwrap() []error {
	out := make([]error, len(e))
	for i, fe := range e {
		out[i] = fe
	}
	return out
}

// A decoder collects the problems of one file: a section or a list item
// with a problem is recorded and skipped, and the decoding goes on.
type decoder struct {
	file string
	errs Errors
}

// ok records err, if any, and reports whether there was none.
func (d *decoder) ok(err error) bool {
	if err == nil {
		return true
	}
	var fe *Error
	if !errors.As(err, &fe) {
		fe = &Error{File: d.file, Reason: err.Error()}
	}
	d.errs = append(d.errs, fe)
	return false
}

// failed returns the collected problems in line order, or nil.
func (d *decoder) failed() error {
	if len(d.errs) == 0 {
		return nil
	}
	slices.SortStableFunc(d.errs, func(a, b *Error) int { return a.Line - b.Line })
	return d.errs
}

func (d *decoder) errf(n *yaml.Node, path, format string, args ...any) error {
	e := &Error{File: d.file, Path: path, Reason: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// fields checks that n is a mapping whose keys are all in allowed, and
// returns the value node of each known key; unknown keys are recorded.
func (d *decoder) fields(n *yaml.Node, path string, allowed ...string) (map[string]*yaml.Node, error) {
	if n.Kind != yaml.MappingNode {
		return nil, d.errf(n, path, "want a mapping, found %s", kindName(n))
	}
	out := make(map[string]*yaml.Node, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := k.Value
		// An unknown or repeated field is recorded and the known ones are
		// still decoded, so their problems show up in the same run.
		if !slices.Contains(allowed, key) {
			d.ok(d.errf(k, join(path, key), "unknown field (known: %s)", strings.Join(allowed, ", ")))
			continue
		}
		if _, dup := out[key]; dup {
			d.ok(d.errf(k, join(path, key), "appears twice"))
			continue
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
		name, err := d.str(n, "name")
		switch {
		case !d.ok(err):
		case !validName(name):
			d.ok(d.errf(n, "name", "must be letters, digits, '-' or '_' (it names a directory), found %q", name))
		default:
			s.Name = name
		}
	}
	if n := f["description"]; n != nil {
		s.Description, err = d.str(n, "description")
		d.ok(err)
	}
	if n := f["backends"]; n != nil {
		s.Backends, err = d.backends(n)
		d.ok(err)
	}
	// Each section is decoded whatever the others hold; the sections that
	// depend on another (events on load, expectations on the gateway's
	// variants and the load) are checked only when it is sound, so that
	// one mistake does not echo as several.
	before := len(d.errs)
	s.Gateway = d.gateway(f["gateway"])
	gatewayOK := len(d.errs) == before
	if n := f["targets"]; n == nil {
		d.ok(d.errf(root, "targets", "required: at least one target"))
	} else {
		s.Targets = d.targets(n)
	}
	before = len(d.errs)
	if n := f["load"]; n == nil {
		d.ok(d.errf(root, "load", "required: rates or a capacity search"))
	} else {
		s.Load = d.load(n)
	}
	loadOK := len(d.errs) == before
	if n := f["events"]; n != nil && loadOK {
		before = len(d.errs)
		s.Events = d.events(n, s.Load)
		loadOK = len(d.errs) == before
	}
	if n := f["expect"]; n != nil && gatewayOK && loadOK {
		s.Expect = d.expectations(n, s)
	}
	if err := d.failed(); err != nil {
		return nil, err
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

// gateway decodes the gateway section; its problems are recorded.
func (d *decoder) gateway(n *yaml.Node) Gateway {
	g := Gateway{Modes: slices.Clone(Modes), PoolSizes: []int{DefaultPoolSize}}
	if n == nil {
		return g
	}
	f, err := d.fields(n, "gateway", "modes", "pool_sizes", "max_conns", "deadline", "backend_timeout")
	if !d.ok(err) {
		return g
	}
	if m := f["modes"]; m != nil {
		items, err := d.list(m, "gateway.modes")
		switch {
		case !d.ok(err):
		case len(items) == 0:
			d.ok(d.errf(m, "gateway.modes", "empty: name at least one of %s", strings.Join(Modes, ", ")))
		default:
			g.Modes = nil
			for i, it := range items {
				p := fmt.Sprintf("gateway.modes[%d]", i)
				mode, err := d.str(it, p)
				switch {
				case !d.ok(err):
				case !slices.Contains(Modes, mode):
					d.ok(d.errf(it, p, "unknown mode %q (known: %s)", mode, strings.Join(Modes, ", ")))
				case slices.Contains(g.Modes, mode):
					d.ok(d.errf(it, p, "mode %q appears twice", mode))
				default:
					g.Modes = append(g.Modes, mode)
				}
			}
		}
	}
	if m := f["pool_sizes"]; m != nil {
		items, err := d.list(m, "gateway.pool_sizes")
		switch {
		case !d.ok(err):
		case len(items) == 0:
			d.ok(d.errf(m, "gateway.pool_sizes", "empty"))
		case !slices.Contains(g.Modes, "pool"):
			d.ok(d.errf(m, "gateway.pool_sizes", "set, but the modes do not include pool"))
		default:
			g.PoolSizes = nil
			for i, it := range items {
				p := fmt.Sprintf("gateway.pool_sizes[%d]", i)
				v, err := d.int(it, p, 1)
				switch {
				case !d.ok(err):
				case slices.Contains(g.PoolSizes, v):
					d.ok(d.errf(it, p, "size %d appears twice", v))
				default:
					g.PoolSizes = append(g.PoolSizes, v)
				}
			}
		}
	}
	if m := f["max_conns"]; m != nil {
		g.MaxConns, err = d.int(m, "gateway.max_conns", 1)
		d.ok(err)
	}
	if m := f["deadline"]; m != nil {
		g.Deadline, err = d.duration(m, "gateway.deadline")
		d.ok(err)
	}
	if m := f["backend_timeout"]; m != nil {
		g.BackendTimeout, err = d.duration(m, "gateway.backend_timeout")
		d.ok(err)
	}
	return g
}

// targets decodes the targets; a target with a problem is recorded and
// left out.
func (d *decoder) targets(n *yaml.Node) []Target {
	items, err := d.list(n, "targets")
	if !d.ok(err) {
		return nil
	}
	if len(items) == 0 {
		d.ok(d.errf(n, "targets", "empty: name at least one target"))
		return nil
	}
	var out []Target
	for i, it := range items {
		before := len(d.errs)
		t := d.target(it, fmt.Sprintf("targets[%d]", i))
		if len(d.errs) == before {
			out = append(out, t)
		}
	}
	return out
}

// target decodes one target at path p, recording each problem.
func (d *decoder) target(it *yaml.Node, p string) Target {
	t := Target{Method: "GET", Weight: 1}
	f, err := d.fields(it, p, "name", "method", "path", "ids", "weight", "body")
	if !d.ok(err) {
		return t
	}
	if m := f["name"]; m != nil {
		t.Name, err = d.str(m, p+".name")
		d.ok(err)
	}
	if m := f["method"]; m != nil {
		method, err := d.str(m, p+".method")
		method = strings.ToUpper(method)
		switch {
		case !d.ok(err):
		case !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, method):
			d.ok(d.errf(m, p+".method", "unknown method %q", method))
		default:
			t.Method = method
		}
	}
	if m := f["path"]; m == nil {
		d.ok(d.errf(it, p+".path", "required"))
	} else if t.Path, err = d.str(m, p+".path"); d.ok(err) {
		switch {
		case !strings.HasPrefix(t.Path, "/"):
			d.ok(d.errf(m, p+".path", "must start with '/', found %q", t.Path))
		case strings.ContainsAny(strings.ReplaceAll(t.Path, "{id}", ""), "{}"):
			d.ok(d.errf(m, p+".path", "the only placeholder is {id}, found %q", t.Path))
		case strings.ContainsAny(t.Path, " \t\n"):
			d.ok(d.errf(m, p+".path", "must not contain spaces"))
		}
	}
	if m := f["ids"]; m != nil {
		t.IDs, err = d.idRange(m, p+".ids")
		if d.ok(err) && t.Path != "" && !strings.Contains(t.Path, "{id}") {
			d.ok(d.errf(m, p+".ids", "set, but the path has no {id}"))
		}
	} else if strings.Contains(t.Path, "{id}") {
		d.ok(d.errf(it, p+".ids", "required: the path has {id}"))
	}
	if m := f["weight"]; m != nil {
		t.Weight, err = d.positive(m, p+".weight")
		d.ok(err)
	}
	if m := f["body"]; m != nil {
		t.Body, err = d.str(m, p+".body")
		d.ok(err)
	}
	if t.Name == "" {
		t.Name = t.Method + " " + t.Path
	}
	return t
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

// load decodes the load section; its problems are recorded.
func (d *decoder) load(n *yaml.Node) Load {
	l := Load{Warmup: DefaultWarmup, Duration: DefaultDuration, Timeout: DefaultTimeout, Seed: 1}
	f, err := d.fields(n, "load", "warmup", "duration", "rates", "capacity", "timeout", "seed")
	if !d.ok(err) {
		return l
	}
	if m := f["warmup"]; m != nil {
		l.Warmup, err = d.duration(m, "load.warmup")
		d.ok(err)
	}
	if m := f["duration"]; m != nil {
		v, err := d.duration(m, "load.duration")
		if d.ok(err) && v == 0 {
			d.ok(d.errf(m, "load.duration", "must be positive"))
		} else if err == nil {
			l.Duration = v
		}
	}
	if m := f["timeout"]; m != nil {
		v, err := d.duration(m, "load.timeout")
		if d.ok(err) && v == 0 {
			d.ok(d.errf(m, "load.timeout", "must be positive"))
		} else if err == nil {
			l.Timeout = v
		}
	}
	if m := f["seed"]; m != nil {
		v, err := d.int(m, "load.seed", 0)
		if d.ok(err) {
			l.Seed = uint64(v)
		}
	}
	rates, capacity := f["rates"], f["capacity"]
	switch {
	case rates != nil && capacity != nil:
		d.ok(d.errf(capacity, "load.capacity", "set together with load.rates: choose one"))
	case rates == nil && capacity == nil:
		d.ok(d.errf(n, "load", "want rates (a list of requests per second) or a capacity search"))
	case rates != nil:
		items, err := d.list(rates, "load.rates")
		if !d.ok(err) {
			break
		}
		if len(items) == 0 {
			d.ok(d.errf(rates, "load.rates", "empty"))
		}
		for i, it := range items {
			p := fmt.Sprintf("load.rates[%d]", i)
			v, err := d.positive(it, p)
			switch {
			case !d.ok(err):
			case slices.Contains(l.Rates, v):
				d.ok(d.errf(it, p, "rate %v appears twice", v))
			default:
				l.Rates = append(l.Rates, v)
			}
		}
	default:
		l.Capacity = d.capacity(capacity)
	}
	return l
}

// capacity decodes a capacity search; its problems are recorded.
func (d *decoder) capacity(n *yaml.Node) *Capacity {
	const p = "load.capacity"
	c := &Capacity{Success: DefaultSuccess, Start: DefaultCapacityStart, Max: DefaultCapacityMax,
		Step: DefaultStep, Budget: DefaultBudget, Precision: DefaultPrecision, Hold: DefaultHold}
	f, err := d.fields(n, p, "p99", "success", "start", "max", "step", "budget", "precision", "hold", "max_probe")
	if !d.ok(err) {
		return c
	}
	if m := f["p99"]; m == nil {
		d.ok(d.errf(n, p+".p99", "required: the SLO's p99 latency"))
	} else if c.P99, err = d.duration(m, p+".p99"); d.ok(err) && c.P99 == 0 {
		d.ok(d.errf(m, p+".p99", "must be positive"))
	}
	if m := f["success"]; m != nil {
		if c.Success, err = d.float(m, p+".success"); d.ok(err) && (c.Success <= 0 || c.Success > 1) {
			d.ok(d.errf(m, p+".success", "want a fraction in (0, 1], found %v", c.Success))
		}
	}
	startOK, maxOK := true, true
	if m := f["start"]; m != nil {
		c.Start, err = d.positive(m, p+".start")
		startOK = d.ok(err)
	}
	if m := f["max"]; m != nil {
		c.Max, err = d.positive(m, p+".max")
		maxOK = d.ok(err)
	}
	if startOK && maxOK && c.Max < c.Start {
		d.ok(d.errf(n, p+".max", "below start (%v < %v)", c.Max, c.Start))
	}
	stepOK, budgetOK := true, true
	if m := f["step"]; m != nil {
		if c.Step, err = d.duration(m, p+".step"); !d.ok(err) {
			stepOK = false
		} else if c.Step == 0 {
			stepOK = d.ok(d.errf(m, p+".step", "must be positive"))
		}
	}
	if m := f["budget"]; m != nil {
		c.Budget, err = d.duration(m, p+".budget")
		budgetOK = d.ok(err)
	}
	holdOK := d.capacityHold(f, c)
	if stepOK && budgetOK && holdOK && c.Budget < c.Step+c.Hold {
		d.ok(d.errf(n, p+".budget", "shorter than one step and one hold (%v < %v + %v)", c.Budget, c.Step, c.Hold))
	}
	if m := f["precision"]; m != nil {
		c.Precision, err = d.positive(m, p+".precision")
		d.ok(err)
	}
	return c
}

// capacityHold reads load.capacity.hold and load.capacity.max_probe; its
// problems are recorded, and it reports whether the hold is usable.
func (d *decoder) capacityHold(f map[string]*yaml.Node, c *Capacity) bool {
	const p = "load.capacity"
	var err error
	ok := true
	if m := f["hold"]; m != nil {
		if c.Hold, err = d.duration(m, p+".hold"); !d.ok(err) {
			ok = false
		} else if c.Hold == 0 {
			ok = d.ok(d.errf(m, p+".hold", "must be positive"))
		}
	}
	if m := f["max_probe"]; m != nil {
		if c.MaxProbe, err = d.duration(m, p+".max_probe"); d.ok(err) && c.MaxProbe < max(c.Step, c.Hold) {
			d.ok(d.errf(m, p+".max_probe", "shorter than the step or the hold (%v)", max(c.Step, c.Hold)))
		}
	}
	return ok
}

// events decodes the events under load l; an event with a problem is
// recorded and left out.
func (d *decoder) events(n *yaml.Node, l Load) []Event {
	items, err := d.list(n, "events")
	if !d.ok(err) {
		return nil
	}
	if l.Capacity != nil && len(items) > 0 {
		d.ok(d.errf(n, "events", "not supported with a capacity search"))
		return nil
	}
	var out []Event
	var last time.Duration
	names := map[string]bool{FirstPhase: true}
	for i, it := range items {
		before := len(d.errs)
		e := d.event(it, fmt.Sprintf("events[%d]", i), i, l, last, names)
		if len(d.errs) == before {
			out = append(out, e)
		}
		if e.At > last {
			last = e.At
		}
	}
	return out
}

// event decodes the event at index i and path p; last is the offset of the
// previous event and names the phases so far.
func (d *decoder) event(it *yaml.Node, p string, i int, l Load, last time.Duration, names map[string]bool) Event {
	e := Event{Name: fmt.Sprintf("event%d", i+1)}
	f, err := d.fields(it, p, "at", "name", "service", "set", "restore")
	if !d.ok(err) {
		return e
	}
	if m := f["at"]; m == nil {
		d.ok(d.errf(it, p+".at", "required: the offset into the measured run"))
	} else if e.At, err = d.duration(m, p+".at"); d.ok(err) && (e.At <= last || e.At >= l.Duration) {
		d.ok(d.errf(m, p+".at", "must be after the previous event and within load.duration (%v), found %v", l.Duration, e.At))
	}
	if m := f["name"]; m != nil {
		name, err := d.str(m, p+".name")
		switch {
		case !d.ok(err):
		case !validName(name) || strings.Contains(name, "-"):
			d.ok(d.errf(m, p+".name", "must be letters, digits or '_', found %q", name))
		default:
			e.Name = name
		}
	}
	if names[e.Name] {
		d.ok(d.errf(it, p+".name", "phase %q appears twice", e.Name))
	}
	names[e.Name] = true
	if m := f["service"]; m == nil {
		d.ok(d.errf(it, p+".service", "required"))
	} else if e.Service, err = d.str(m, p+".service"); d.ok(err) && !model.KnownService(e.Service) {
		d.ok(d.errf(m, p+".service", "unknown service %q (known: %s)", e.Service, strings.Join(model.Services, ", ")))
		e.Service = ""
	}
	set, restore := f["set"], f["restore"]
	switch {
	case set != nil && restore != nil:
		d.ok(d.errf(restore, p+".restore", "set together with set: choose one"))
	case set == nil && restore == nil:
		d.ok(d.errf(it, p, "want set (a service model) or restore: true"))
	case restore != nil:
		if restore.Kind != yaml.ScalarNode || restore.Value != "true" {
			d.ok(d.errf(restore, p+".restore", "want true"))
		}
		e.Restore = true
	case e.Service != "":
		// The model is checked only against a known service: its routes
		// depend on which one.
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
				d.ok(&Error{File: d.file, Line: line, Path: path, Reason: fe.Reason})
			} else {
				d.ok(d.errf(set, p+".set", "%v", err))
			}
			break
		}
		e.Set = c[e.Service]
	}
	return e
}

// expectations parses each assertion and checks that every name in it means
// something in this scenario, so a typo fails before anything starts. Each
// problem is recorded.
func (d *decoder) expectations(n *yaml.Node, s *Scenario) []*expect.Expectation {
	items, err := d.list(n, "expect")
	if !d.ok(err) {
		return nil
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
		if !d.ok(err) {
			continue
		}
		e, err := expect.Parse(src)
		if err != nil {
			d.ok(d.errf(it, p, "%v", err))
			continue
		}
		good := true
		for _, name := range e.Names() {
			if err := checkName(name, s, labels, phases); err != nil {
				good = d.ok(d.errf(it, p, "%s: %v", name, err))
			}
		}
		if good {
			out = append(out, e)
		}
	}
	return out
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
