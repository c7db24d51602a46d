package result

import (
	"slices"
	"time"

	"fanout/bench/dist"
)

// Cost is the CPU and the allocations per results page of several
// configurations (the CPU floor among them), each measured in Rounds
// rounds of a short fixed-rate attack with the floor beside it: the floor
// serves the same requests at the same rate over the same window, on the
// same CPU, so that whatever the machine does at that moment (another
// process, the load generator's pace, a thermal limit) touches both alike
// and cancels in their ratio.
type Cost struct {
	// Rate is the offered rate of every round, in requests per second,
	// and Duration the measured length of one round of one configuration.
	Rate     float64       `json:"rate"`
	Duration time.Duration `json:"duration"`
	Rounds   int           `json:"rounds"`
	// Rows in the scenario's order.
	Rows []CostRow `json:"rows"`
	// Baseline names the row that the difference column compares the
	// others with: every policy off ("" when there is none).
	Baseline string `json:"baseline,omitempty"`
	// LoadAverage is the machine's 1-minute load average as the
	// measurement began (0: unknown): above the number of cores, other
	// work shared the machine and widened the rounds' ranges.
	LoadAverage float64 `json:"load_average,omitempty"`
	// Notes say what the table cannot show apart (a feature that cannot
	// be switched off alone), one sentence each.
	Notes []string `json:"notes,omitempty"`
}

// CostRow is one configuration's rounds.
type CostRow struct {
	// Name is the configuration's name (expectations use it), Feature
	// what it measures, in words.
	Name    string `json:"name"`
	Feature string `json:"feature,omitempty"`
	// Floor is true for the CPU floor, a bare fan-out of the same calls.
	Floor bool `json:"floor,omitempty"`
	// Args are the gateway's flags, and AcceptEncoding the header its
	// requests carry ("" means identity).
	Args           []string `json:"args,omitempty"`
	AcceptEncoding string   `json:"accept_encoding,omitempty"`
	// Rounds in the order they ran.
	Rounds []CostRound `json:"rounds"`
	// Error says why the configuration could not be measured.
	Error string `json:"error,omitempty"`
}

// CostRound is one round of one configuration.
type CostRound struct {
	Requests int `json:"requests"`
	// Success is the fraction of requests answered 2xx, and Codes counts
	// the answers by status ("0": none), to tell why a round did not
	// count.
	Success float64        `json:"success"`
	Codes   map[string]int `json:"codes,omitempty"`
	// CPU is the process's CPU time over the attack.
	CPU time.Duration `json:"cpu"`
	// Allocs are the heap objects the process allocated over the attack,
	// less what reading the count costs; -1 when it could not be read.
	Allocs float64 `json:"allocs"`
	// Floor is the floor's round beside this one, over the same window;
	// nil for the floor's own rounds, and in runs made before the floor
	// ran beside each configuration.
	Floor *CostRound `json:"floor,omitempty"`
}

// MinCostSuccess is the share of a round's requests that must be answered
// 2xx for the round to count: a refused or failed request costs less than
// a page, and a round of them would flatter its configuration.
const MinCostSuccess = 0.99

// Counts reports whether the round counts in its row's figures: it sent
// requests and at least MinCostSuccess of them were answered 2xx.
func (r CostRound) Counts() bool { return r.Requests > 0 && r.Success >= MinCostSuccess }

// Counted returns how many of the row's rounds count (CostRound.Counts).
func (r CostRow) Counted() int {
	n := 0
	for _, rd := range r.Rounds {
		if rd.Counts() {
			n++
		}
	}
	return n
}

// CPUPerRequest is the round's CPU time per request (0 without requests).
func (r CostRound) CPUPerRequest() time.Duration {
	if r.Requests == 0 {
		return 0
	}
	return r.CPU / time.Duration(r.Requests)
}

// Over is the round's CPU per request divided by base's (the floor's
// round beside it), in floating point: CPUPerRequest rounds to the
// nanosecond. ok is false when either served nothing or base used no CPU.
func (r CostRound) Over(base CostRound) (ratio float64, ok bool) {
	if r.Requests == 0 || base.Requests == 0 || base.CPU <= 0 {
		return 0, false
	}
	return float64(r.CPU) / float64(r.Requests) / (float64(base.CPU) / float64(base.Requests)), true
}

// AllocsPerRequest is the round's allocations per request (-1 when they
// are unknown).
func (r CostRound) AllocsPerRequest() float64 {
	if r.Requests == 0 || r.Allocs < 0 {
		return -1
	}
	return r.Allocs / float64(r.Requests)
}

// Spread is a figure over repeated rounds: its median (nearest rank, so
// one of the rounds' own values) and its range.
type Spread struct {
	Median float64 `json:"median"`
	Min    float64 `json:"min"`
	Max    float64 `json:"max"`
	// N counts the rounds the figure rests on.
	N int `json:"n"`
}

// SpreadOf returns the spread of vals; N is 0 without values.
func SpreadOf(vals []float64) Spread {
	if len(vals) == 0 {
		return Spread{}
	}
	s := slices.Sorted(slices.Values(vals))
	return Spread{Median: dist.Quantile(s, 0.5), Min: s[0], Max: s[len(s)-1], N: len(s)}
}

// CPU is the row's CPU per request over its rounds that count, in
// milliseconds.
func (r CostRow) CPU() Spread {
	var vals []float64
	for _, rd := range r.Rounds {
		if rd.Counts() {
			vals = append(vals, Millis(rd.CPUPerRequest()))
		}
	}
	return SpreadOf(vals)
}

// Allocs is the row's allocations per request over the rounds that count
// and could count them.
func (r CostRow) Allocs() Spread {
	var vals []float64
	for _, rd := range r.Rounds {
		if a := rd.AllocsPerRequest(); a >= 0 && rd.Counts() {
			vals = append(vals, a)
		}
	}
	return SpreadOf(vals)
}

// Ratio is the row's CPU per request divided by base's, round by round.
// Divided by the floor, each round is divided by the floor's round beside
// it (CostRound.Floor). Divided by another configuration, whose rounds ran
// at other times, each round's ratio to the floor beside it is divided by
// the median of base's ratios to the floor beside them. The floor divided
// by a configuration is the inverse of that configuration's ratios to the
// floor beside it: the floor's own rounds ran beside every configuration
// in turn, so its first rounds need not be the ones beside base. Results
// made before the floor ran beside each configuration pair the rows'
// rounds by their index instead: they ran interleaved, one after the
// other. Rounds that do not count, for either, are left out.
func (r CostRow) Ratio(base CostRow) Spread {
	switch {
	case base.Floor && r.paired():
		return SpreadOf(r.floorRatios())
	case r.Floor && base.paired():
		vals := base.floorRatios()
		for i, v := range vals {
			vals[i] = 1 / v
		}
		return SpreadOf(vals)
	case r.paired() && base.paired():
		b := SpreadOf(base.floorRatios())
		if b.N == 0 {
			return Spread{}
		}
		vals := r.floorRatios()
		for i := range vals {
			vals[i] /= b.Median
		}
		return SpreadOf(vals)
	}
	var vals []float64
	for i, rd := range r.Rounds {
		if i >= len(base.Rounds) {
			break
		}
		b := base.Rounds[i]
		if rd.Counts() && b.Counts() && b.CPU > 0 {
			vals = append(vals, float64(rd.CPUPerRequest())/float64(b.CPUPerRequest()))
		}
	}
	return SpreadOf(vals)
}

// paired reports whether the row's rounds ran with the floor beside them.
func (r CostRow) paired() bool {
	for _, rd := range r.Rounds {
		if rd.Floor != nil {
			return true
		}
	}
	return false
}

// floorRatios returns, for each round that counts with the floor's round
// beside it that counts too, the round's CPU per request divided by the
// floor's.
func (r CostRow) floorRatios() []float64 {
	var vals []float64
	for _, rd := range r.Rounds {
		if f := rd.Floor; f != nil && rd.Counts() && f.Counts() {
			if v, ok := rd.Over(*f); ok {
				vals = append(vals, v)
			}
		}
	}
	return vals
}

// Row returns the row named name.
func (c *Cost) Row(name string) (CostRow, bool) {
	for _, r := range c.Rows {
		if r.Name == name {
			return r, true
		}
	}
	return CostRow{}, false
}

// Paired reports whether c's configurations ran with the floor beside
// them (CostRound.Floor), rather than in interleaved rounds as in older
// runs.
func (c *Cost) Paired() bool {
	for _, r := range c.Rows {
		if r.paired() {
			return true
		}
	}
	return false
}

// Floor returns the CPU floor's row.
func (c *Cost) Floor() (CostRow, bool) {
	for _, r := range c.Rows {
		if r.Floor {
			return r, true
		}
	}
	return CostRow{}, false
}
