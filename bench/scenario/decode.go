package scenario

import (
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"fanout/bench/expect"
	"fanout/bench/figure"
	"fanout/gateway/fanout"
	"fanout/mockbackends/model"
	"fanout/mockbackends/strictyaml"
)

// Error is a problem with one field of a scenario file: the strict YAML
// decoder's "file:line: field.path: reason", which the mock backends' model
// uses too, so a problem in a scenario's backends: section reads like any
// other.
type Error = strictyaml.Error

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
// errors and the default scenario name. A file that is empty or not valid
// YAML fails with one *Error; otherwise every problem found, in the
// scenario's own keys and in the backends' models, is returned at once, as
// Errors.
func Decode(r io.Reader, name string) (*Scenario, error) {
	src, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read scenario %s: %w", name, err)
	}
	d := &decoder{&strictyaml.Decoder{File: name}}
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
type Errors = strictyaml.Errors

// A decoder collects the problems of one file: a section or a list item
// with a problem is recorded and skipped, and the decoding goes on.
type decoder struct {
	*strictyaml.Decoder
}

func (d *decoder) decode(src []byte) (*Scenario, error) {
	root, err := d.Parse(src)
	if err != nil {
		return nil, err
	}
	if strictyaml.IsNull(root) {
		return nil, &Error{File: d.File, Reason: "empty file"}
	}
	f, err := d.Fields(root, "", "name", "description", "backends", "gateway", "targets", "load", "events", "hostile", "cost", "fleet", "expect")
	if err != nil {
		return nil, err
	}
	s := &Scenario{}
	if n := f["name"]; n != nil {
		name, err := d.Str(n, "name")
		switch {
		case !d.OK(err):
		case !validName(name):
			d.OK(d.Errorf(n, "name", "must be letters, digits, '-' or '_' (it names a directory), found %q", name))
		default:
			s.Name = name
		}
	}
	if n := f["description"]; n != nil {
		s.Description, err = d.Str(n, "description")
		d.OK(err)
	}
	if n := f["backends"]; n != nil {
		s.Backends = model.DecodeConfig(d.Decoder, n, "backends")
	}
	// Each section is decoded whatever the others hold; the sections that
	// depend on another (events on load, expectations on the gateway's
	// variants and the load) are checked only when it is sound, so that
	// one mistake does not echo as several.
	before := d.Count()
	s.Gateway = d.gateway(f["gateway"])
	gatewayOK := d.Count() == before
	if n := f["targets"]; n == nil {
		d.OK(d.Errorf(root, "targets", "required: at least one target"))
	} else {
		s.Targets = d.targets(n, "targets")
	}
	before = d.Count()
	switch n := f["load"]; {
	case n != nil && f["cost"] != nil:
		d.OK(d.Errorf(n, "load", "set together with cost, which has its own rate and rounds: choose one"))
	case n != nil:
		s.Load = d.load(n)
	case f["cost"] != nil:
		s.Load = Load{Timeout: DefaultTimeout, Seed: 1}
		s.Cost = d.cost(f["cost"], s.Targets)
		d.costGateway(f["gateway"])
	default:
		d.OK(d.Errorf(root, "load", "required: rates, a capacity search, or a cost section instead"))
	}
	loadOK := d.Count() == before
	if s.Cost != nil {
		// A cost measurement's rounds are short and alike: events and a
		// hostile tenant would make them differ.
		for _, key := range []string{"events", "hostile"} {
			if n := f[key]; n != nil {
				d.OK(d.Errorf(n, key, "not with cost: its rounds measure the results page alone"))
				loadOK = false
			}
		}
	}
	if n := f["fleet"]; n != nil {
		s.Fleet = d.fleet(n)
	}
	if n := f["events"]; n != nil && loadOK {
		before = d.Count()
		s.Events = d.events(n, s.Load, s.Fleet)
		loadOK = d.Count() == before
	}
	if s.Fleet != nil && loadOK {
		d.checkFleet(root, f, s)
	}
	if n := f["hostile"]; n != nil && loadOK {
		s.Hostile = d.hostile(n, s)
	}
	if n := f["expect"]; n != nil && gatewayOK && loadOK {
		s.Expect = d.expectations(n, s)
	}
	if err := d.Err(); err != nil {
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

// gateway decodes the gateway section; its problems are recorded.
func (d *decoder) gateway(n *yaml.Node) Gateway {
	g := Gateway{Modes: slices.Clone(fanout.Modes), PoolSizes: []int{fanout.DefaultPoolSize}}
	if n == nil {
		return g
	}
	f, err := d.Fields(n, "gateway", "modes", "pool_sizes", "max_conns", "deadline", "backend_timeout", "configs", "overload", "breaker")
	if !d.OK(err) {
		return g
	}
	if m := f["modes"]; m != nil {
		items, err := d.List(m, "gateway.modes")
		switch {
		case !d.OK(err):
		case len(items) == 0:
			d.OK(d.Errorf(m, "gateway.modes", "empty: name at least one of %s", strings.Join(fanout.Modes, ", ")))
		default:
			g.Modes = distinct(d, items, "gateway.modes", "mode %q appears twice", func(it *yaml.Node, p string) (string, error) {
				mode, err := d.Str(it, p)
				if err == nil && !slices.Contains(fanout.Modes, mode) {
					err = d.Errorf(it, p, "unknown mode %q (known: %s)", mode, strings.Join(fanout.Modes, ", "))
				}
				return mode, err
			})
		}
	}
	if m := f["pool_sizes"]; m != nil {
		items, err := d.List(m, "gateway.pool_sizes")
		switch {
		case !d.OK(err):
		case len(items) == 0:
			d.OK(d.Errorf(m, "gateway.pool_sizes", "empty"))
		case !slices.Contains(g.Modes, "pool"):
			d.OK(d.Errorf(m, "gateway.pool_sizes", "set, but the modes do not include pool"))
		default:
			g.PoolSizes = distinct(d, items, "gateway.pool_sizes", "size %d appears twice", func(it *yaml.Node, p string) (int, error) {
				return d.Int(it, p, 1)
			})
		}
	}
	if m := f["max_conns"]; m != nil {
		g.MaxConns, err = d.Int(m, "gateway.max_conns", 1)
		d.OK(err)
	}
	if m := f["deadline"]; m != nil {
		g.Deadline, err = d.Duration(m, "gateway.deadline")
		d.OK(err)
	}
	if m := f["backend_timeout"]; m != nil {
		g.BackendTimeout, err = d.Duration(m, "gateway.backend_timeout")
		d.OK(err)
	}
	if m := f["configs"]; m != nil {
		g.Configs = d.configs(m)
	}
	if m := f["overload"]; m != nil {
		if m.Kind == yaml.SequenceNode {
			d.OK(d.Errorf(m, "gateway.overload", "one setting, on or off; to compare shedding on and off, "+
				`name both in configs (configs: {shed: "", noshed: "-overload off"})`))
		} else if on, err := d.switchValue(m, "gateway.overload"); d.OK(err) {
			g.OverloadOff = !on
		}
	}
	if m := f["breaker"]; m != nil {
		if on, err := d.switchValue(m, "gateway.breaker"); d.OK(err) {
			g.Breaker = on
		}
	}
	return g
}

// configs reads `configs: {NAME: "FLAGS", ...}`: named sets of gateway
// flags, each a word (letters, digits, '_') that expectations can name.
func (d *decoder) configs(n *yaml.Node) []Config {
	var out []Config
	err := d.Mapping(n, "gateway.configs", func(key string, k, v *yaml.Node, path string) {
		if key == "" || strings.IndexFunc(key, func(r rune) bool {
			return r != '_' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9')
		}) >= 0 {
			d.OK(d.Errorf(k, path, "a config name is letters, digits and '_', found %q", key))
			return
		}
		var flags string
		if !strictyaml.IsNull(v) {
			var err error
			if flags, err = d.Str(v, path); !d.OK(err) {
				return
			}
		}
		args := strings.Fields(flags)
		if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
			d.OK(d.Errorf(v, path, "want gateway flags (e.g. -hedge-budget 0), found %q", flags))
			return
		}
		out = append(out, Config{Name: key, Args: args, Line: k.Line})
	})
	d.OK(err)
	if len(out) == 0 && err == nil {
		d.OK(d.Errorf(n, "gateway.configs", "empty"))
	}
	return out
}

// switchValue reads on or off (true or false).
func (d *decoder) switchValue(m *yaml.Node, path string) (bool, error) {
	v, err := d.Str(m, path)
	if err != nil {
		return false, err
	}
	switch v {
	case "on", "true":
		return true, nil
	case "off", "false":
		return false, nil
	}
	return false, d.Errorf(m, path, "%q: want on or off", v)
}

// targets decodes the targets at path; a target with a problem is
// recorded and left out.
func (d *decoder) targets(n *yaml.Node, path string) []Target {
	items, err := d.List(n, path)
	if !d.OK(err) {
		return nil
	}
	if len(items) == 0 {
		d.OK(d.Errorf(n, path, "empty: name at least one target"))
		return nil
	}
	var out []Target
	for i, it := range items {
		before := d.Count()
		t := d.target(it, fmt.Sprintf("%s[%d]", path, i))
		if d.Count() == before {
			out = append(out, t)
		}
	}
	return out
}

// target decodes one target at path p, recording each problem.
func (d *decoder) target(it *yaml.Node, p string) Target {
	t := Target{Method: "GET", Weight: 1}
	f, err := d.Fields(it, p, "name", "method", "path", "ids", "weight", "body", "distribution")
	if !d.OK(err) {
		return t
	}
	if m := f["name"]; m != nil {
		t.Name, err = d.Str(m, p+".name")
		d.OK(err)
	}
	if m := f["method"]; m != nil {
		method, err := d.Str(m, p+".method")
		method = strings.ToUpper(method)
		switch {
		case !d.OK(err):
		case !slices.Contains([]string{"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD"}, method):
			d.OK(d.Errorf(m, p+".method", "unknown method %q", method))
		default:
			t.Method = method
		}
	}
	if m := f["path"]; m == nil {
		d.OK(d.Errorf(it, p+".path", "required"))
	} else if t.Path, err = d.Str(m, p+".path"); d.OK(err) {
		switch {
		case !strings.HasPrefix(t.Path, "/"):
			d.OK(d.Errorf(m, p+".path", "must start with '/', found %q", t.Path))
		case strings.ContainsAny(strings.ReplaceAll(t.Path, "{id}", ""), "{}"):
			d.OK(d.Errorf(m, p+".path", "the only placeholder is {id}, found %q", t.Path))
		case strings.ContainsAny(t.Path, " \t\n"):
			d.OK(d.Errorf(m, p+".path", "must not contain spaces"))
		}
	}
	if m := f["ids"]; m != nil {
		t.IDs, err = d.idRange(m, p+".ids")
		if d.OK(err) && t.Path != "" && !strings.Contains(t.Path, "{id}") {
			d.OK(d.Errorf(m, p+".ids", "set, but the path has no {id}"))
		}
	} else if strings.Contains(t.Path, "{id}") {
		d.OK(d.Errorf(it, p+".ids", "required: the path has {id}"))
	}
	if m := f["weight"]; m != nil {
		t.Weight, err = d.Positive(m, p+".weight")
		d.OK(err)
	}
	if m := f["body"]; m != nil {
		t.Body, err = d.Str(m, p+".body")
		d.OK(err)
	}
	if m := f["distribution"]; m != nil {
		t.Zipf = d.distribution(m, p+".distribution")
		if t.Zipf > 0 && !strings.Contains(t.Path, "{id}") {
			d.OK(d.Errorf(m, p+".distribution", "set, but the path has no {id}"))
		}
	}
	if t.Name == "" {
		t.Name = t.Method + " " + t.Path
	}
	return t
}

// distribution reads how ids are drawn: "uniform" (0), or
// {kind: zipf, s: SKEW} with a skew above 1 (the skew).
func (d *decoder) distribution(n *yaml.Node, path string) float64 {
	if n.Kind == yaml.ScalarNode {
		if n.Value != "uniform" {
			d.OK(d.Errorf(n, path, "want uniform or {kind: zipf, s: SKEW}, found %q", n.Value))
		}
		return 0
	}
	f, err := d.Fields(n, path, "kind", "s")
	if !d.OK(err) {
		return 0
	}
	if k := f["kind"]; k == nil || k.Value != "zipf" {
		d.OK(d.Errorf(n, path+".kind", "want zipf"))
		return 0
	}
	sk := f["s"]
	if sk == nil {
		d.OK(d.Errorf(n, path+".s", "required: the skew, above 1 (e.g. 1.1)"))
		return 0
	}
	s, err := strconv.ParseFloat(sk.Value, 64)
	if err != nil || s <= 1 || s > 10 {
		d.OK(d.Errorf(sk, path+".s", "want a skew above 1 and at most 10, found %q", sk.Value))
		return 0
	}
	return s
}

// idRange reads "1-1000" or {min: 1, max: 1000}.
func (d *decoder) idRange(n *yaml.Node, path string) (IDRange, error) {
	var r IDRange
	if n.Kind == yaml.ScalarNode {
		lo, hi, ok := strings.Cut(n.Value, "-")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		b, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil {
			return r, d.Errorf(n, path, "want MIN-MAX (e.g. 1-1000) or {min, max}, found %q", n.Value)
		}
		r = IDRange{Min: a, Max: b}
	} else {
		f, err := d.Fields(n, path, "min", "max")
		if err != nil {
			return r, err
		}
		if f["min"] == nil || f["max"] == nil {
			return r, d.Errorf(n, path, "want both min and max")
		}
		if r.Min, err = d.Int(f["min"], path+".min", 0); err != nil {
			return r, err
		}
		if r.Max, err = d.Int(f["max"], path+".max", 0); err != nil {
			return r, err
		}
	}
	if r.Min < 0 || r.Max < r.Min {
		return r, d.Errorf(n, path, "want 0 <= min <= max, found %d-%d", r.Min, r.Max)
	}
	return r, nil
}

// load decodes the load section; its problems are recorded.
func (d *decoder) load(n *yaml.Node) Load {
	l := Load{Warmup: DefaultWarmup, Duration: DefaultDuration, Timeout: DefaultTimeout, Seed: 1}
	f, err := d.Fields(n, "load", "warmup", "duration", "rates", "capacity", "timeout", "seed", "compare_bodies", "generators")
	if !d.OK(err) {
		return l
	}
	if m := f["warmup"]; m != nil {
		l.Warmup, err = d.Duration(m, "load.warmup")
		d.OK(err)
	}
	if m := f["duration"]; m != nil {
		if v, ok := d.positiveDuration(m, "load.duration"); ok {
			l.Duration = v
		}
	}
	if m := f["timeout"]; m != nil {
		if v, ok := d.positiveDuration(m, "load.timeout"); ok {
			l.Timeout = v
		}
	}
	if m := f["seed"]; m != nil {
		v, err := d.Int(m, "load.seed", 0)
		if d.OK(err) {
			l.Seed = uint64(v)
		}
	}
	if m := f["compare_bodies"]; m != nil {
		switch m.Value {
		case "true":
			l.CompareBodies = true
		case "false":
		default:
			d.OK(d.Errorf(m, "load.compare_bodies", "want true or false, found %q", m.Value))
		}
	}
	if m := f["generators"]; m != nil {
		v, err := d.Int(m, "load.generators", 1)
		switch {
		case !d.OK(err):
		case v > MaxGenerators:
			d.OK(d.Errorf(m, "load.generators", "%d generator processes on one machine is more than %d; for more, run bench attack on several hosts and bench merge", v, MaxGenerators))
		case v > 1 && l.CompareBodies:
			d.OK(d.Errorf(m, "load.generators", "set together with load.compare_bodies: the generators' results keep no bodies to compare"))
		default:
			l.Generators = v
		}
	}
	rates, capacity := f["rates"], f["capacity"]
	switch {
	case rates != nil && capacity != nil:
		d.OK(d.Errorf(capacity, "load.capacity", "set together with load.rates: choose one"))
	case rates == nil && capacity == nil:
		d.OK(d.Errorf(n, "load", "want rates (a list of requests per second) or a capacity search"))
	case rates != nil:
		items, err := d.List(rates, "load.rates")
		if !d.OK(err) {
			break
		}
		if len(items) == 0 {
			d.OK(d.Errorf(rates, "load.rates", "empty"))
		}
		l.Rates = distinct(d, items, "load.rates", "rate %v appears twice", d.Positive)
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
	f, err := d.Fields(n, p, "p99", "success", "start", "max", "step", "budget", "precision", "hold", "max_probe")
	if !d.OK(err) {
		return c
	}
	if m := f["p99"]; m == nil {
		d.OK(d.Errorf(n, p+".p99", "required: the SLO's p99 latency"))
	} else {
		c.P99, _ = d.positiveDuration(m, p+".p99")
	}
	if m := f["success"]; m != nil {
		if c.Success, err = d.Float(m, p+".success"); d.OK(err) && (c.Success <= 0 || c.Success > 1) {
			d.OK(d.Errorf(m, p+".success", "want a fraction in (0, 1], found %v", c.Success))
		}
	}
	startOK, maxOK := true, true
	if m := f["start"]; m != nil {
		c.Start, err = d.Positive(m, p+".start")
		startOK = d.OK(err)
	}
	if m := f["max"]; m != nil {
		c.Max, err = d.Positive(m, p+".max")
		maxOK = d.OK(err)
	}
	if startOK && maxOK && c.Max < c.Start {
		d.OK(d.Errorf(n, p+".max", "below start (%v < %v)", c.Max, c.Start))
	}
	stepOK, budgetOK := true, true
	if m := f["step"]; m != nil {
		c.Step, stepOK = d.positiveDuration(m, p+".step")
	}
	if m := f["budget"]; m != nil {
		c.Budget, err = d.Duration(m, p+".budget")
		budgetOK = d.OK(err)
	}
	holdOK := d.capacityHold(f, c)
	if stepOK && budgetOK && holdOK && c.Budget < c.Step+c.Hold {
		d.OK(d.Errorf(n, p+".budget", "shorter than one step and one hold (%v < %v + %v)", c.Budget, c.Step, c.Hold))
	}
	if m := f["precision"]; m != nil {
		c.Precision, err = d.Positive(m, p+".precision")
		d.OK(err)
	}
	return c
}

// distinct reads each item of the list at path with read and returns the
// values in their order. An item read cannot take, or whose value an
// earlier item has already given (twice formats the problem), is recorded
// as a problem and left out.
func distinct[T comparable](d *decoder, items []*yaml.Node, path, twice string, read func(it *yaml.Node, path string) (T, error)) []T {
	var out []T
	for i, it := range items {
		p := fmt.Sprintf("%s[%d]", path, i)
		v, err := read(it, p)
		switch {
		case !d.OK(err):
		case slices.Contains(out, v):
			d.OK(d.Errorf(it, p, twice, v))
		default:
			out = append(out, v)
		}
	}
	return out
}

// positiveDuration reads a duration that must be above zero. Its problem,
// if any, is recorded; ok says whether the duration is usable, and it is
// zero where it is not.
func (d *decoder) positiveDuration(m *yaml.Node, path string) (v time.Duration, ok bool) {
	v, err := d.Duration(m, path)
	if !d.OK(err) {
		return 0, false
	}
	if v == 0 {
		return 0, d.OK(d.Errorf(m, path, "must be positive"))
	}
	return v, true
}

// capacityHold reads load.capacity.hold and load.capacity.max_probe; its
// problems are recorded, and it reports whether the hold is usable.
func (d *decoder) capacityHold(f map[string]*yaml.Node, c *Capacity) bool {
	const p = "load.capacity"
	var err error
	ok := true
	if m := f["hold"]; m != nil {
		c.Hold, ok = d.positiveDuration(m, p+".hold")
	}
	if m := f["max_probe"]; m != nil {
		if c.MaxProbe, err = d.Duration(m, p+".max_probe"); d.OK(err) && c.MaxProbe < max(c.Step, c.Hold) {
			d.OK(d.Errorf(m, p+".max_probe", "shorter than the step or the hold (%v)", max(c.Step, c.Hold)))
		}
	}
	return ok
}

// events decodes the events under load l; an event with a problem is
// recorded and left out.
func (d *decoder) events(n *yaml.Node, l Load, fl *Fleet) []Event {
	items, err := d.List(n, "events")
	if !d.OK(err) {
		return nil
	}
	if l.Capacity != nil && len(items) > 0 {
		d.OK(d.Errorf(n, "events", "not supported with a capacity search"))
		return nil
	}
	var out []Event
	var last time.Duration
	names := map[string]bool{FirstPhase: true}
	for i, it := range items {
		before := d.Count()
		e := d.event(it, fmt.Sprintf("events[%d]", i), i, l, fl, last, names)
		if d.Count() == before {
			out = append(out, e)
		}
		if e.At > last {
			last = e.At
		}
	}
	return out
}

// event decodes the event at index i and path p; last is the offset of the
// previous event and names the phases so far; fl is the scenario's fleet
// (nil: none).
func (d *decoder) event(it *yaml.Node, p string, i int, l Load, fl *Fleet, last time.Duration, names map[string]bool) Event {
	e := Event{Name: fmt.Sprintf("event%d", i+1)}
	f, err := d.Fields(it, p, "at", "name", "service", "set", "restore", "rate", "fleet", "replica", "restart_after")
	if !d.OK(err) {
		return e
	}
	if m := f["at"]; m == nil {
		d.OK(d.Errorf(it, p+".at", "required: the offset into the measured run"))
	} else if e.At, err = d.Duration(m, p+".at"); d.OK(err) && (e.At <= last || e.At >= l.Duration) {
		d.OK(d.Errorf(m, p+".at", "must be after the previous event and within load.duration (%v), found %v", l.Duration, e.At))
	}
	if m := f["name"]; m != nil {
		name, err := d.Str(m, p+".name")
		switch {
		case !d.OK(err):
		case !validName(name) || strings.Contains(name, "-"):
			d.OK(d.Errorf(m, p+".name", "must be letters, digits or '_', found %q", name))
		default:
			e.Name = name
		}
	}
	if names[e.Name] {
		d.OK(d.Errorf(it, p+".name", "phase %q appears twice", e.Name))
	}
	names[e.Name] = true
	if m := f["rate"]; m != nil {
		e.Rate, err = d.Positive(m, p+".rate")
		d.OK(err)
	}
	d.fleetEvent(it, f, p, fl, &e)
	set, restore := f["set"], f["restore"]
	// An event changes a backend, the rate, the fleet, or several: without
	// a service it must have a rate or a fleet action, and neither set nor
	// restore.
	if f["service"] == nil {
		switch {
		case set != nil || restore != nil:
			d.OK(d.Errorf(it, p+".service", "required with set or restore: the service whose model changes"))
		case f["rate"] == nil && f["fleet"] == nil:
			d.OK(d.Errorf(it, p, "want a change: a service with set or restore, a rate, a fleet action, or several"))
		}
		return e
	}
	if e.Service, err = d.Str(f["service"], p+".service"); d.OK(err) && !model.KnownService(e.Service) {
		d.OK(d.Errorf(f["service"], p+".service", "unknown service %q (known: %s)", e.Service, strings.Join(model.Services, ", ")))
		e.Service = ""
	}
	switch {
	case set != nil && restore != nil:
		d.OK(d.Errorf(restore, p+".restore", "set together with set: choose one"))
	case set == nil && restore == nil:
		d.OK(d.Errorf(it, p, "want set (a service model) or restore: true"))
	case restore != nil:
		if restore.Kind != yaml.ScalarNode || restore.Value != "true" {
			d.OK(d.Errorf(restore, p+".restore", "want true"))
		}
		e.Restore = true
	case e.Service != "":
		// The model is checked only against a known service: its routes
		// depend on which one.
		before := d.Count()
		set := model.DecodeServiceFor(d.Decoder, set, p+".set", e.Service)
		if d.Count() == before {
			e.Set = set
		}
	}
	return e
}

// expectations parses each assertion and checks that every name in it means
// something in this scenario, so a typo fails before anything starts. Each
// problem is recorded.
func (d *decoder) expectations(n *yaml.Node, s *Scenario) []*expect.Expectation {
	items, err := d.List(n, "expect")
	if !d.OK(err) {
		return nil
	}
	labels := map[string]bool{}
	for _, v := range s.Gateway.Variants() {
		labels[v.Label] = true
	}
	if s.Cost != nil {
		labels = map[string]bool{}
		for _, c := range s.Cost.Configs {
			labels[c.Name] = true
		}
	}
	phases := map[string]bool{}
	for _, ph := range s.Phases() {
		phases[ph] = true
	}
	var out []*expect.Expectation
	for i, it := range items {
		p := fmt.Sprintf("expect[%d]", i)
		src, err := d.Str(it, p)
		if !d.OK(err) {
			continue
		}
		e, err := expect.Parse(src)
		if err != nil {
			d.OK(d.Errorf(it, p, "%v", err))
			continue
		}
		good := true
		for _, name := range e.Names() {
			if err := checkName(name, s, labels, phases); err != nil {
				good = d.OK(d.Errorf(it, p, "%s: %v", name, err))
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
		if s.Cost != nil {
			return fmt.Errorf("a cost scenario measures CPU, beside the floor: it has no latency limits")
		}
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
		known := slices.Sorted(maps.Keys(labels))
		return fmt.Errorf("%q is neither a variant of this scenario (%s) nor a limit (critical_path, sum)", head, strings.Join(known, ", "))
	}
	if s.Cost != nil {
		return checkCostName(n)
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
	if _, ok := figure.Lookup(m); ok || IsStatusMetric(m) || IsCallsMetric(m) {
		return nil
	}
	if _, ok := FleetMetrics[m]; ok {
		return checkFleetMetric(m, s)
	}
	return fmt.Errorf("unknown metric %q (known: %s, capacity, code_NNN)", m, strings.Join(slices.Sorted(slices.Values(figure.Names())), ", "))
}

// hostile decodes the hostile section of s (whose load and events are
// sound); its problems are recorded, and it returns nil when there are any.
func (d *decoder) hostile(n *yaml.Node, s *Scenario) *Hostile {
	const p = "hostile"
	before := d.Count()
	h := &Hostile{From: FirstPhase}
	f, err := d.Fields(n, p, "from", "uploads", "rate", "targets")
	if !d.OK(err) {
		return nil
	}
	if s.Load.Capacity != nil {
		d.OK(d.Errorf(n, p, "not supported with a capacity search: the hostile tenant runs beside fixed rates"))
		return nil
	}
	if m := f["from"]; m != nil {
		from, err := d.Str(m, p+".from")
		if d.OK(err) {
			if phases := s.Phases(); !slices.Contains(phases, from) && !(len(phases) == 0 && from == FirstPhase) {
				known := strings.Join(phases, ", ")
				if known == "" {
					known = "none: the scenario has no events"
				}
				d.OK(d.Errorf(m, p+".from", "unknown phase %q (phases: %s)", from, known))
			}
			h.From = from
		}
	}
	if m := f["uploads"]; m != nil {
		h.Uploads = d.uploads(m, p+".uploads")
	}
	if m := f["rate"]; m != nil {
		h.Rate, err = d.Positive(m, p+".rate")
		d.OK(err)
	}
	switch m := f["targets"]; {
	case m != nil:
		h.Targets = d.targets(m, p+".targets")
		if f["rate"] == nil {
			d.OK(d.Errorf(m, p+".rate", "required with targets: the hostile tenant's requests per second"))
		}
	case f["rate"] != nil:
		d.OK(d.Errorf(f["rate"], p+".targets", "required with a rate: what the hostile tenant requests"))
	case f["uploads"] == nil:
		d.OK(d.Errorf(n, p, "want uploads, or a rate and targets, or both: something hostile to do"))
	}
	if d.Count() != before {
		return nil
	}
	return h
}

// uploads decodes the slow uploads of the hostile tenant at path p.
func (d *decoder) uploads(n *yaml.Node, p string) *Uploads {
	u := &Uploads{Path: DefaultUploadPath}
	f, err := d.Fields(n, p, "clients", "bytes_per_second", "path", "body")
	if !d.OK(err) {
		return u
	}
	for _, k := range []struct {
		key string
		dst *int
		max int
	}{{"clients", &u.Clients, MaxUploadClients}, {"bytes_per_second", &u.BytesPerSecond, MaxUploadPace}} {
		m := f[k.key]
		if m == nil {
			d.OK(d.Errorf(n, p+"."+k.key, "required"))
			continue
		}
		v, err := d.Int(m, p+"."+k.key, 1)
		if d.OK(err) && v > k.max {
			d.OK(d.Errorf(m, p+"."+k.key, "at most %d, found %d", k.max, v))
			continue
		}
		*k.dst = v
	}
	if m := f["path"]; m != nil {
		if u.Path, err = d.Str(m, p+".path"); d.OK(err) && (!strings.HasPrefix(u.Path, "/") || strings.ContainsAny(u.Path, " \t\r\n")) {
			d.OK(d.Errorf(m, p+".path", "want a path from '/' without spaces, found %q", u.Path))
		}
	}
	if m := f["body"]; m == nil {
		d.OK(d.Errorf(n, p+".body", "required: the body to trickle"))
	} else if u.Body, err = d.Str(m, p+".body"); d.OK(err) && u.Body == "" {
		d.OK(d.Errorf(m, p+".body", "empty: a slow upload needs a body"))
	}
	return u
}
