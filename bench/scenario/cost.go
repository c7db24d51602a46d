package scenario

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"fanout/bench/expect"
)

// Cost is the `cost:` section of a scenario that measures what each
// feature of the gateway costs: instead of load.rates, every configuration
// runs in a process of its own, warmed up for Warmup, and is measured in
// Rounds rounds of Duration at Rate on the results page, with the CPU
// floor (a bare fan-out of the same calls) serving the same requests at
// the same rate beside it: its CPU and allocations per request, and its
// CPU over the floor's.
type Cost struct {
	Rate     float64
	Warmup   time.Duration
	Duration time.Duration
	Rounds   int
	// Baseline names the configuration the others are compared with
	// (every policy off); "" for none.
	Baseline string
	// Configs in the order of the table and of each round.
	Configs []CostConfig
	// Notes are printed under the table: what it cannot show apart.
	Notes []string
}

// CostConfig is one configuration of a cost measurement: the floor, or a
// gateway with Args, asked with AcceptEncoding ("": identity). The first
// floor of a measurement is the one every configuration runs beside; a
// further floor (another Sockets) is measured beside it like a gateway.
type CostConfig struct {
	Name    string
	Feature string
	Floor   bool
	// Sockets is how a floor reads and writes its sockets: "" or "raw" as
	// the gateway does, "net" through net.Conn as fasthttp does (the
	// floor's -sockets).
	Sockets        string
	Args           []string
	AcceptEncoding string
	// Line is the line of the scenario file where the configuration
	// starts, for the check of its flags against the gateway's.
	Line int
}

// Defaults of a cost section.
const (
	DefaultCostRate     = 500.0
	DefaultCostWarmup   = time.Second
	DefaultCostDuration = time.Second
	DefaultCostRounds   = 3
)

// CostMetrics are the metrics an expectation may name after a cost
// configuration: the medians of its rounds.
var CostMetrics = map[string]string{
	"cpu_per_request":    "CPU time per request (ms), median of the rounds",
	"cpu_ratio":          "CPU per request divided by the floor's beside it, round by round, median",
	"allocs_per_request": "heap allocations per request, median of the rounds",
}

// FloorPath is the one path the CPU floor serves: the results page.
const FloorPath = "/v2/experiments/{id}/results"

// cost decodes the cost section; its problems are recorded.
func (d *decoder) cost(n *yaml.Node, targets []Target) *Cost {
	const p = "cost"
	c := &Cost{Rate: DefaultCostRate, Warmup: DefaultCostWarmup, Duration: DefaultCostDuration, Rounds: DefaultCostRounds}
	f, err := d.Fields(n, p, "rate", "warmup", "duration", "rounds", "baseline", "configs", "notes")
	if !d.OK(err) {
		return c
	}
	if m := f["rate"]; m != nil {
		c.Rate, err = d.Positive(m, p+".rate")
		d.OK(err)
	}
	if m := f["warmup"]; m != nil {
		c.Warmup, err = d.Duration(m, p+".warmup")
		d.OK(err)
	}
	if m := f["duration"]; m != nil {
		c.Duration, _ = d.positiveDuration(m, p+".duration")
	}
	if m := f["rounds"]; m != nil {
		c.Rounds, err = d.Int(m, p+".rounds", 1)
		d.OK(err)
	}
	if m := f["notes"]; m != nil {
		items, err := d.List(m, p+".notes")
		if d.OK(err) {
			for i, it := range items {
				s, err := d.Str(it, fmt.Sprintf("%s.notes[%d]", p, i))
				if d.OK(err) {
					c.Notes = append(c.Notes, s)
				}
			}
		}
	}
	if m := f["configs"]; m == nil {
		d.OK(d.Errorf(n, p+".configs", "required: the configurations to measure"))
	} else {
		c.Configs = d.costConfigs(m)
	}
	if m := f["baseline"]; m != nil {
		if c.Baseline, err = d.Str(m, p+".baseline"); d.OK(err) && c.config(c.Baseline) == nil {
			d.OK(d.Errorf(m, p+".baseline", "%q is none of cost.configs", c.Baseline))
		}
	}
	for _, cfg := range c.Configs {
		if !cfg.Floor {
			continue
		}
		// The floor serves the results page alone: any other request
		// would measure its 404s.
		for i, t := range targets {
			if t.Method != "GET" || t.Path != FloorPath {
				d.OK(d.Errorf(n, fmt.Sprintf("targets[%d]", i), "the floor (cost.configs %s) serves GET %s only, found %s %s",
					cfg.Name, FloorPath, t.Method, t.Path))
			}
		}
		break
	}
	return c
}

// config returns the configuration named name, or nil.
func (c *Cost) config(name string) *CostConfig {
	for i := range c.Configs {
		if c.Configs[i].Name == name {
			return &c.Configs[i]
		}
	}
	return nil
}

// costConfigs reads the list of configurations; one with a problem is
// recorded and left out.
func (d *decoder) costConfigs(n *yaml.Node) []CostConfig {
	items, err := d.List(n, "cost.configs")
	if !d.OK(err) {
		return nil
	}
	if len(items) == 0 {
		d.OK(d.Errorf(n, "cost.configs", "empty"))
		return nil
	}
	var out []CostConfig
	names := map[string]bool{}
	for i, it := range items {
		p := fmt.Sprintf("cost.configs[%d]", i)
		before := d.Count()
		f, err := d.Fields(it, p, "name", "feature", "floor", "sockets", "flags", "accept_encoding")
		if !d.OK(err) {
			continue
		}
		c := CostConfig{Line: it.Line}
		if m := f["name"]; m == nil {
			d.OK(d.Errorf(it, p+".name", "required"))
		} else if c.Name, err = d.Str(m, p+".name"); d.OK(err) {
			switch {
			case !validName(c.Name) || strings.Contains(c.Name, "-"):
				d.OK(d.Errorf(m, p+".name", "must be letters, digits or '_', found %q", c.Name))
			case names[c.Name]:
				d.OK(d.Errorf(m, p+".name", "%q appears twice", c.Name))
			case LimitNames[c.Name] != "":
				d.OK(d.Errorf(m, p+".name", "%q is the name of a limit", c.Name))
			}
			names[c.Name] = true
		}
		if m := f["feature"]; m != nil {
			c.Feature, err = d.Str(m, p+".feature")
			d.OK(err)
		}
		if m := f["floor"]; m != nil {
			c.Floor, err = d.switchValue(m, p+".floor")
			d.OK(err)
		}
		if m := f["flags"]; m != nil {
			flags, err := d.Str(m, p+".flags")
			if d.OK(err) {
				c.Args = strings.Fields(flags)
				if len(c.Args) > 0 && !strings.HasPrefix(c.Args[0], "-") {
					d.OK(d.Errorf(m, p+".flags", "want gateway flags (e.g. -hedge-budget 0), found %q", flags))
				}
			}
		}
		if m := f["accept_encoding"]; m != nil {
			c.AcceptEncoding, err = d.Str(m, p+".accept_encoding")
			d.OK(err)
		}
		if m := f["sockets"]; m != nil {
			if c.Sockets, err = d.Str(m, p+".sockets"); d.OK(err) {
				switch {
				case !c.Floor:
					d.OK(d.Errorf(m, p+".sockets", "only a floor (floor: true) takes sockets: the gateway always reads and writes them with raw system calls"))
				case c.Sockets != "raw" && c.Sockets != "net":
					d.OK(d.Errorf(m, p+".sockets", "want raw or net, found %q", c.Sockets))
				}
			}
		}
		if c.Floor && (len(c.Args) > 0 || c.AcceptEncoding != "") {
			d.OK(d.Errorf(it, p, "the floor takes neither flags nor accept_encoding: it has no features"))
		}
		if d.Count() == before {
			out = append(out, c)
		}
	}
	return out
}

// costGateway refuses the gateway settings that a cost section replaces:
// its configurations run in concurrent mode (the floor's graph), each with
// its own flags.
func (d *decoder) costGateway(n *yaml.Node) {
	if n == nil {
		return
	}
	f, err := d.Fields(n, "gateway", "modes", "pool_sizes", "max_conns", "deadline", "backend_timeout", "configs", "overload", "breaker")
	if err != nil {
		return // gateway() has recorded it
	}
	for _, key := range []string{"modes", "pool_sizes", "configs"} {
		if m := f[key]; m != nil {
			d.OK(d.Errorf(m, "gateway."+key, "not with cost: its configurations run in concurrent mode, each with the flags of cost.configs"))
		}
	}
}

// checkCostName checks a name of an expectation on a cost section:
// CONFIG.METRIC, the configuration checked by the caller.
func checkCostName(n expect.Name) error {
	if n.HasRate {
		return fmt.Errorf("a cost configuration runs at one rate: name it without @RATE")
	}
	if len(n.Parts) != 2 {
		return fmt.Errorf("want CONFIG.METRIC")
	}
	if _, ok := CostMetrics[n.Parts[1]]; !ok {
		return fmt.Errorf("unknown metric %q of a cost configuration (known: %s)", n.Parts[1], strings.Join(slices.Sorted(maps.Keys(CostMetrics)), ", "))
	}
	return nil
}

// Estimate returns how long the measurement should take: each process's
// start and warm-up, then the rounds.
func (c *Cost) Estimate() time.Duration {
	n := time.Duration(len(c.Configs))
	return n*(c.Warmup+CostStartOverhead) + time.Duration(c.Rounds)*n*(c.Duration+CostRoundOverhead)
}

// What a cost measurement spends beyond its warm-ups and attacks: starting
// a process, and per round reading its CPU and allocations and waiting
// for the last responses.
const (
	CostStartOverhead = 700 * time.Millisecond
	CostRoundOverhead = 200 * time.Millisecond
)
