package fanout

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
)

// CallSpec describes one backend call of an operation, as the gateway reads
// it from the spec's x-fanout extension.
type CallSpec struct {
	Name    string // unique in the operation, e.g. "experiment"
	Backend string // backend name, e.g. "experiments"
	Method  string // "" means GET; Compile stores it upper-cased, "" as "GET"
	// Path is a template: "/layers/{experiment.layer_id}" refers to the field
	// layer_id of call experiment's JSON body, "/results/{experiment_id}" to a
	// request parameter. Values are percent-escaped as a path segment (in the
	// query part, after '?', as a query value).
	Path    string
	Timeout time.Duration // 0: no per-call timeout beyond the request deadline
	// Optional says that a failure leaves a partial response instead of
	// failing the request. The engine runs optional calls exactly like the
	// others (dependents of a failed optional call are not sent either); the
	// gateway decides what optional means for the response.
	Optional bool
	// Primary marks the call whose answer decides the response's status (a
	// missing resource is a 404 whoever else failed): a required call's
	// failure does not cancel it in flight, though it still stops calls
	// not sent yet. The end of the caller's context cancels it as any call.
	Primary bool
	// AllowNotFound says that a 404 answer is an answer: the call's
	// resource does not exist yet, which the gateway renders. Such a call
	// does not abort the run, though its dependents are not sent (there is
	// no body to fill their paths). Not for the primary call, whose 404 is
	// the request's.
	AllowNotFound bool
	// Fields says, per field reference of Path ("experiment.layer_id"), what
	// the field must be before its text may fill the path: the gateway builds
	// each rule from the schema of the parameter the field fills, since a
	// backend's body is not trusted. A reference without a rule is only
	// refused, in the path part, when empty, "." or "..". A key that names
	// no reference of Path is a Compile error.
	Fields map[string]FieldRule
	// Policies are the call's policy declarations (hedge, retry, ...) by
	// their x-fanout key, decoded and checked by the gateway's policy
	// registry, which builds the call's Policies from them (see PolicyDoer).
	// The engine does not read them.
	Policies map[string]any
	// Identify says that a 2xx answer must carry the identity of the
	// resource its path asked for: the value of the path's last reference
	// that fills a whole segment ({experiment_id} in
	// /experiments/{experiment_id}) must be the text of the answer's
	// top-level field named after that reference (experiment_id), or if it
	// has none, of its IdentityField. An answer for another resource (a
	// stray answer read on a reused connection) is then the call's failure
	// (ErrMalformed). A path without such a reference has no identity.
	Identify bool
	// Required names the top-level fields a 2xx answer must have: the
	// gateway takes them from the document's schema of the resource the
	// call fetches. An answer without one of them is the call's failure
	// (ErrMalformed), as is one that gives any field the engine reads
	// twice.
	Required []string
}

// FieldRule is what a response field must be to fill a call's path. It is
// built once, at start-up, so that checking a value costs no parsing.
type FieldRule struct {
	// Number says the field must be a JSON number; otherwise it must be a
	// JSON string.
	Number bool
	// Check validates the field's text: a string's decoded text, a number's
	// decimal text. Nil accepts any text of the right type. It must be safe
	// for concurrent use and must not keep the string, which may alias a
	// backend's body.
	Check func(text string) error
}

// Call is one compiled call of a Plan.
type Call struct {
	Spec  CallSpec
	Index int   // position in topological order; index of its Outcome
	Deps  []int // indices of the calls it references, ascending
	Level int   // 0 for calls without dependencies, else 1 + the deepest dependency's level
}

// Plan is the compiled, immutable dependency graph of one operation's calls.
// It is safe for concurrent use.
type Plan struct {
	op     string
	calls  []Call
	steps  []step // parallel to calls
	levels [][]int
	byName map[string]int
	slots  int // number of extracted field values, over all calls
}

// step is what an Executor needs to run one call, prepared by Compile.
type step struct {
	tmpl template
	// fields are the top-level fields read from its body: those its
	// dependents need, then its identity's and its required ones.
	fields     []string
	slot0      int   // value slot of fields[0]
	dependents []int // calls that reference it, ascending
	// identity is the reference whose value the answer must carry (see
	// identityOf), and named and id the indices in fields of the body's
	// fields that may carry it; identity is nil for a call without one.
	identity  *segment
	named, id int
	required  []int // indices in fields of CallSpec.Required
	read      bool  // fields is not empty: the answer is read and checked
}

// Operation returns the operation's name given to Compile.
func (p *Plan) Operation() string { return p.op }

// Calls returns the calls in topological order (Calls()[i].Index == i). The
// slice is shared: do not modify it.
func (p *Plan) Calls() []Call { return p.calls }

// Levels returns the call indices grouped by dependency level: level 0 needs
// nothing, level k needs only calls of levels below k. The slices are shared:
// do not modify them.
func (p *Plan) Levels() [][]int { return p.levels }

// Index returns the index of the named call, or -1 if the plan has none.
func (p *Plan) Index(name string) int {
	if i, ok := p.byName[name]; ok {
		return i
	}
	return -1
}

// Len returns the number of calls.
func (p *Plan) Len() int { return len(p.calls) }

// CriticalPath returns the length of the longest dependency chain, given
// each call's duration: the latency no executor can beat.
func (p *Plan) CriticalPath(d func(Call) time.Duration) time.Duration {
	finish := make([]time.Duration, len(p.calls))
	var longest time.Duration
	for i, c := range p.calls {
		var ready time.Duration
		for _, dep := range c.Deps {
			ready = max(ready, finish[dep])
		}
		finish[i] = ready + d(c)
		longest = max(longest, finish[i])
	}
	return longest
}

// Sum returns the sum of the calls' durations: the latency of sequential
// execution.
func (p *Plan) Sum(d func(Call) time.Duration) time.Duration {
	var sum time.Duration
	for _, c := range p.calls {
		sum += d(c)
	}
	return sum
}

// LevelSum returns the sum over dependency levels of each level's longest
// call: the latency of staged execution.
func (p *Plan) LevelSum(d func(Call) time.Duration) time.Duration {
	var sum time.Duration
	for _, level := range p.levels {
		var longest time.Duration
		for _, i := range level {
			longest = max(longest, d(p.calls[i]))
		}
		sum += longest
	}
	return sum
}

// Compile checks the calls of operation and compiles them into a Plan. params
// names the operation's request parameters that templates may use. Errors name
// the operation and the call: `compile plan getExperimentResults: call "layer": ...`.
func Compile(operation string, calls []CallSpec, params []string) (*Plan, error) {
	p, err := compile(operation, calls, params)
	if err != nil {
		return nil, fmt.Errorf("compile plan %s: %w", operation, err)
	}
	return p, nil
}

// compile checks the calls, resolves their references into the dependency
// graph, orders it, and gives every referenced field a value slot.
func compile(operation string, specs []CallSpec, params []string) (*Plan, error) {
	if len(specs) == 0 {
		return nil, fmt.Errorf("no calls")
	}
	specs = slices.Clone(specs)
	byName, tmpls, err := checkCalls(specs)
	if err != nil {
		return nil, err
	}
	deps, err := resolve(specs, tmpls, byName, params)
	if err != nil {
		return nil, err
	}
	order, err := topoOrder(specs, deps)
	if err != nil {
		return nil, err
	}
	p := build(operation, specs, tmpls, deps, order)
	p.assignSlots()
	return p, nil
}

// checkCalls checks each call alone, in the given order, normalizing its
// method in specs, and returns the calls' indices by name and their parsed
// path templates.
func checkCalls(specs []CallSpec) (map[string]int, []template, error) {
	byName := make(map[string]int, len(specs))
	tmpls := make([]template, len(specs))
	for i := range specs {
		s := &specs[i]
		if s.Name == "" {
			return nil, nil, fmt.Errorf("call #%d: empty name", i+1)
		}
		if !isName(s.Name) {
			return nil, nil, fmt.Errorf("call %q: name must be letters, digits, '_' or '-'", s.Name)
		}
		if j, dup := byName[s.Name]; dup {
			return nil, nil, fmt.Errorf("call %q: duplicate name (calls #%d and #%d)", s.Name, j+1, i+1)
		}
		byName[s.Name] = i
		if s.Backend == "" {
			return nil, nil, fmt.Errorf("call %q: empty backend", s.Name)
		}
		method, err := normalizeMethod(s.Method)
		if err != nil {
			return nil, nil, fmt.Errorf("call %q: %w", s.Name, err)
		}
		s.Method = method
		if s.Timeout < 0 {
			return nil, nil, fmt.Errorf("call %q: negative timeout %v", s.Name, s.Timeout)
		}
		t, err := parseTemplate(s.Path)
		if err != nil {
			return nil, nil, fmt.Errorf("call %q: path %q: %w", s.Name, s.Path, err)
		}
		tmpls[i] = t
	}
	return byName, tmpls, nil
}

// resolve checks every reference of the templates against the request
// parameters and the calls, points field segments at their rules, and
// returns the references to other calls: deps[i] lists the given indices of
// the calls that call i needs, the edges of the graph.
func resolve(specs []CallSpec, tmpls []template, byName map[string]int, params []string) ([][]int, error) {
	deps := make([][]int, len(specs))
	for i := range specs {
		if err := checkFieldRules(specs[i], tmpls[i]); err != nil {
			return nil, err
		}
		for s := range tmpls[i].segs {
			sg := &tmpls[i].segs[s]
			switch sg.kind {
			case segParam:
				if !slices.Contains(params, sg.name) {
					if _, isCall := byName[sg.name]; isCall {
						return nil, fmt.Errorf("call %q: {%s} names a call, not a request parameter: refer to one of its fields, {%s.FIELD}", specs[i].Name, sg.name, sg.name)
					}
					return nil, fmt.Errorf("call %q: unknown request parameter {%s} (parameters: %s)", specs[i].Name, sg.name, listOrNone(params))
				}
			case segField:
				j, ok := byName[sg.name]
				if !ok {
					return nil, fmt.Errorf("call %q: {%s.%s} refers to unknown call %q", specs[i].Name, sg.name, sg.field, sg.name)
				}
				if rule, ok := specs[i].Fields[sg.name+"."+sg.field]; ok {
					sg.rule = &rule
				}
				if j == i {
					return nil, fmt.Errorf("call %q: dependency cycle %s -> %s", specs[i].Name, sg.name, sg.name)
				}
				if !slices.Contains(deps[i], j) {
					deps[i] = append(deps[i], j)
				}
			}
		}
	}
	return deps, nil
}

// build lays the calls out in the topological order: Call.Index, Deps,
// Level, the levels and each call's dependents, by topological index.
func build(operation string, specs []CallSpec, tmpls []template, deps [][]int, order []int) *Plan {
	n := len(specs)
	pos := make([]int, n) // given index -> topological index
	for k, i := range order {
		pos[i] = k
	}
	p := &Plan{
		op:     operation,
		calls:  make([]Call, n),
		steps:  make([]step, n),
		byName: make(map[string]int, n),
	}
	for k, i := range order {
		c := &p.calls[k]
		c.Spec = specs[i]
		c.Index = k
		for _, j := range deps[i] {
			c.Deps = append(c.Deps, pos[j])
		}
		slices.Sort(c.Deps)
		for _, d := range c.Deps {
			c.Level = max(c.Level, p.calls[d].Level+1)
			p.steps[d].dependents = append(p.steps[d].dependents, k)
		}
		p.byName[c.Spec.Name] = k
		p.steps[k].tmpl = tmpls[i]
		for len(p.levels) <= c.Level {
			p.levels = append(p.levels, nil)
		}
		p.levels[c.Level] = append(p.levels[c.Level], k)
	}
	return p
}

// assignSlots gives every (call, field) pair that some template uses a value
// slot, and points the templates' segments at calls and slots by index.
func (p *Plan) assignSlots() {
	for k := range p.steps {
		t := &p.steps[k].tmpl
		for s := range t.segs {
			sg := &t.segs[s]
			if sg.kind != segField {
				continue
			}
			sg.call = p.byName[sg.name]
			owner := &p.steps[sg.call]
			f := slices.Index(owner.fields, sg.field)
			if f < 0 {
				f = len(owner.fields)
				owner.fields = append(owner.fields, sg.field)
			}
			sg.fieldIndex = f
		}
	}
	for k := range p.steps {
		p.steps[k].readAnswer(p.calls[k].Spec)
	}
	for k := range p.steps {
		p.steps[k].slot0 = p.slots
		p.slots += len(p.steps[k].fields)
	}
	for k := range p.steps {
		t := &p.steps[k].tmpl
		for s := range t.segs {
			if sg := &t.segs[s]; sg.kind == segField {
				sg.slot = p.steps[sg.call].slot0 + sg.fieldIndex
			}
		}
	}
}

// topoOrder returns the calls' given indices in a topological order, stable:
// among calls ready at once, the one given first comes first. A cycle is an
// error naming it.
func topoOrder(specs []CallSpec, deps [][]int) ([]int, error) {
	n := len(specs)
	pending := make([]int, n)
	dependents := make([][]int, n)
	for i, ds := range deps {
		pending[i] = len(ds)
		for _, j := range ds {
			dependents[j] = append(dependents[j], i)
		}
	}
	order := make([]int, 0, n)
	done := make([]bool, n)
	for len(order) < n {
		next := -1
		for i := range n {
			if !done[i] && pending[i] == 0 {
				next = i
				break
			}
		}
		if next < 0 {
			return nil, cycleError(specs, deps, done)
		}
		done[next] = true
		order = append(order, next)
		for _, j := range dependents[next] {
			pending[j]--
		}
	}
	return order, nil
}

// cycleError finds a cycle among the calls not yet ordered (every one of them
// has a dependency that is not ordered either, so walking dependencies from the
// first one must come back to a call already seen) and names it.
func cycleError(specs []CallSpec, deps [][]int, done []bool) error {
	start := slices.Index(done, false)
	seen := map[int]int{} // call -> position in path
	var path []int
	for i := start; ; {
		if at, ok := seen[i]; ok {
			cycle := path[at:]
			// Name the cycle from the call given first, so the message is stable.
			first := slices.Index(cycle, slices.Min(cycle))
			cycle = slices.Concat(cycle[first:], cycle[:first])
			names := make([]string, 0, len(cycle)+1)
			for _, c := range cycle {
				names = append(names, specs[c].Name)
			}
			names = append(names, specs[cycle[0]].Name)
			// The message reads "a -> b": a refers to b, as the templates do.
			return fmt.Errorf("call %q: dependency cycle %s", specs[cycle[0]].Name, strings.Join(names, " -> "))
		}
		seen[i] = len(path)
		path = append(path, i)
		for _, j := range deps[i] {
			if !done[j] {
				i = j
				break
			}
		}
	}
}

// checkFieldRules refuses a rule for a field the call's path does not
// reference: a misspelt key would otherwise leave the real reference
// unchecked without a word.
func checkFieldRules(s CallSpec, t template) error {
	// In key order, so that of several stray rules the same one is named.
	for _, key := range slices.Sorted(maps.Keys(s.Fields)) {
		used := slices.ContainsFunc(t.segs, func(sg segment) bool {
			return sg.kind == segField && sg.name+"."+sg.field == key
		})
		if !used {
			return fmt.Errorf("call %q: field rule for {%s}, which its path %q does not reference", s.Name, key, s.Path)
		}
	}
	return nil
}

func normalizeMethod(m string) (string, error) {
	if m == "" {
		return "GET", nil
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !('A' <= c && c <= 'Z' || 'a' <= c && c <= 'z') {
			return "", fmt.Errorf("bad method %q", m)
		}
	}
	return strings.ToUpper(m), nil
}

func listOrNone(names []string) string {
	if len(names) == 0 {
		return "none"
	}
	return strings.Join(names, ", ")
}
