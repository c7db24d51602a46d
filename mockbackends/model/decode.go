package model

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// FieldError is a problem with one field of a model: where it is and why it
// is wrong. File and Line are set when the model came from a file.
type FieldError struct {
	File   string // file name, if known
	Line   int    // 1-based line, if known
	Path   string // dotted field path, e.g. "backends.results.latency.p99"
	Reason string
}

// Error formats the error as "file:line: path: reason", leaving out what is
// unknown.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			b.WriteString(":" + strconv.Itoa(e.Line))
		}
		b.WriteString(": ")
	} else if e.Line > 0 {
		b.WriteString("line " + strconv.Itoa(e.Line) + ": ")
	}
	if e.Path != "" {
		b.WriteString(e.Path + ": ")
	}
	b.WriteString(e.Reason)
	return b.String()
}

// prefix puts p in front of the path of a *FieldError; other errors become
// a FieldError at p.
func prefix(err error, p string) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return &FieldError{Path: p, Reason: err.Error()}
	}
	out := *fe
	out.Path = join(p, fe.Path)
	return &out
}

func join(p, q string) string {
	switch {
	case p == "":
		return q
	case q == "":
		return p
	}
	return p + "." + q
}

func fieldErr(n *yaml.Node, path, format string, args ...any) *FieldError {
	e := &FieldError{Path: path, Reason: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Line = n.Line
	}
	return e
}

// Decode reads a whole model file: strict YAML (JSON is accepted too, being
// YAML) with a single top-level key "backends". name is the file name used
// in errors. The result is validated.
func Decode(r io.Reader, name string) (Config, error) {
	withFile := func(err error) error {
		var fe *FieldError
		if errors.As(err, &fe) {
			out := *fe
			out.File = name
			return &out
		}
		return fmt.Errorf("%s: %w", name, err)
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return Config{}, nil
		}
		return nil, withFile(err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, withFile(errors.New("more than one YAML document"))
	}
	root := resolve(&doc)
	if isNull(root) {
		return Config{}, nil
	}
	var cfg Config
	err = eachKey(root, "", func(key string, v *yaml.Node, path string) error {
		if key != "backends" {
			return fieldErr(v, path, "unknown field (the file has one top-level key, backends)")
		}
		c, err := decodeConfig(v, path)
		cfg = c
		return err
	})
	if err != nil {
		return nil, withFile(err)
	}
	if cfg == nil {
		cfg = Config{}
	}
	if err := cfg.Validate(); err != nil {
		return nil, withFile(locate(err, root, ""))
	}
	return cfg, nil
}

// DecodeService reads the JSON of one service's model, as PUT
// /_admin/config receives it, strictly, and validates it as the model of
// service. Error paths are relative to the service ("latency.p99").
func DecodeService(data []byte, service string) (Service, error) {
	n, err := jsonNode(data)
	if err != nil {
		return Service{}, err
	}
	s, err := decodeService(n, "")
	if err != nil {
		return Service{}, err
	}
	if err := s.Validate(service); err != nil {
		return Service{}, err
	}
	return s, nil
}

// locate fills the Line of a *FieldError from the node its path names,
// below root whose own path is base.
func locate(err error, root *yaml.Node, base string) error {
	var fe *FieldError
	if !errors.As(err, &fe) || fe.Line > 0 {
		return err
	}
	rel := strings.TrimPrefix(strings.TrimPrefix(fe.Path, base), ".")
	n := root
	line := 0
	if r := resolve(root); r != nil {
		line = r.Line
	}
	if rel != "" {
		for _, seg := range strings.Split(rel, ".") {
			n = resolve(n)
			if n == nil || n.Kind != yaml.MappingNode {
				break
			}
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == seg {
					line = n.Content[i].Line
					next = n.Content[i+1]
					break
				}
			}
			if next == nil {
				break
			}
			n = next
		}
	}
	out := *fe
	out.Line = line
	return &out
}

// UnmarshalYAML decodes a backends section strictly and validates it, so a
// bench scenario can embed a Config. Error paths start with "backends".
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	cfg, err := decodeConfig(resolve(n), "backends")
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return locate(err, n, "backends")
	}
	*c = cfg
	return nil
}

// UnmarshalJSON decodes a Config from JSON as UnmarshalYAML does.
func (c *Config) UnmarshalJSON(b []byte) error {
	n, err := jsonNode(b)
	if err != nil {
		return err
	}
	cfg, err := decodeConfig(n, "backends")
	if err != nil {
		return err
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	*c = cfg
	return nil
}

// UnmarshalYAML decodes a Service strictly. Route names are checked by
// Config.Validate or DecodeService, which know the service.
func (s *Service) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(s, resolve(n), decodeService)
}

// UnmarshalJSON decodes a Service strictly.
func (s *Service) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(s, b, decodeService)
}

// UnmarshalYAML decodes a latency from its short form or a mapping, and
// validates it.
func (l *Latency) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(l, resolve(n), decodeLatency)
}

// UnmarshalJSON decodes a latency from its short form (a JSON string) or an
// object, and validates it.
func (l *Latency) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(l, b, decodeLatency)
}

// UnmarshalYAML decodes faults strictly and validates them.
func (f *Faults) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(f, resolve(n), decodeFaults)
}

// UnmarshalJSON decodes faults strictly and validates them.
func (f *Faults) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(f, b, decodeFaults)
}

// resolve follows document and alias nodes to the node that holds a value.
func resolve(n *yaml.Node) *yaml.Node {
	for n != nil {
		switch n.Kind {
		case yaml.DocumentNode:
			if len(n.Content) == 0 {
				return nil
			}
			n = n.Content[0]
		case yaml.AliasNode:
			n = n.Alias
		default:
			return n
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.Tag == "!!null")
}

func kindText(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return fmt.Sprintf("%q", n.Value)
}

// eachKey calls fn for every key of the mapping n, rejecting other nodes,
// duplicate keys and non-string keys.
func eachKey(n *yaml.Node, path string, fn func(key string, v *yaml.Node, path string) error) error {
	if isNull(n) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		return fieldErr(n, path, "must be a mapping, got %s", kindText(n))
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		k := resolve(n.Content[i])
		if k == nil || k.Kind != yaml.ScalarNode {
			return fieldErr(n.Content[i], path, "keys must be names")
		}
		kp := join(path, k.Value)
		if seen[k.Value] {
			return fieldErr(k, kp, "given twice")
		}
		seen[k.Value] = true
		if err := fn(k.Value, resolve(n.Content[i+1]), kp); err != nil {
			return err
		}
	}
	return nil
}

func decodeConfig(n *yaml.Node, path string) (Config, error) {
	cfg := Config{}
	err := eachKey(n, path, func(name string, v *yaml.Node, p string) error {
		if !KnownService(name) {
			return fieldErr(v, p, "unknown service %q (want one of %s)", name, strings.Join(Services, ", "))
		}
		s, err := decodeService(v, p)
		if err != nil {
			return err
		}
		// Route names depend on the service: check them here, where the
		// line is known.
		for _, r := range sortedKeys(s.Routes) {
			if !KnownRoute(name, r) {
				return locate(&FieldError{Path: join(p, "routes."+r), Reason: fmt.Sprintf("unknown route %q of service %s (want one of %s)", r, name, strings.Join(ServiceRoutes(name), ", "))}, v, p)
			}
		}
		cfg[name] = s
		return nil
	})
	return cfg, err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func decodeService(n *yaml.Node, path string) (Service, error) {
	var s Service
	err := eachKey(n, path, func(key string, v *yaml.Node, p string) error {
		var err error
		switch key {
		case "latency":
			if !isNull(v) {
				var l Latency
				l, err = decodeLatency(v, p)
				s.Latency = &l
			}
		case "faults":
			if !isNull(v) {
				var f Faults
				f, err = decodeFaults(v, p)
				s.Faults = &f
			}
		case "max_in_flight":
			s.MaxInFlight, err = decodeCount(v, p)
		case "queue_limit":
			s.QueueLimit, err = decodeCount(v, p)
		case "routes":
			err = eachKey(v, p, func(name string, rv *yaml.Node, rp string) error {
				r, err := decodeRoute(rv, rp)
				if err != nil {
					return err
				}
				if s.Routes == nil {
					s.Routes = map[string]Route{}
				}
				s.Routes[name] = r
				return nil
			})
		default:
			err = fieldErr(v, p, "unknown field (a service has latency, faults, max_in_flight, queue_limit, routes)")
		}
		return err
	})
	if err != nil {
		return Service{}, err
	}
	if s.QueueLimit > 0 && s.MaxInFlight == 0 {
		return Service{}, locate(&FieldError{Path: join(path, "queue_limit"), Reason: "needs max_in_flight (without a cap nothing queues)"}, n, path)
	}
	return s, nil
}

func decodeRoute(n *yaml.Node, path string) (Route, error) {
	var r Route
	err := eachKey(n, path, func(key string, v *yaml.Node, p string) error {
		var err error
		switch key {
		case "latency":
			if !isNull(v) {
				var l Latency
				l, err = decodeLatency(v, p)
				r.Latency = &l
			}
		case "faults":
			if !isNull(v) {
				var f Faults
				f, err = decodeFaults(v, p)
				r.Faults = &f
			}
		default:
			err = fieldErr(v, p, "unknown field (a route has latency, faults)")
		}
		return err
	})
	return r, err
}

func decodeLatency(n *yaml.Node, path string) (Latency, error) {
	if n == nil {
		return Latency{}, fieldErr(n, path, "missing latency")
	}
	if n.Kind == yaml.ScalarNode && !isNull(n) {
		l, err := parseLatency(n.Value)
		if err != nil {
			return Latency{}, fieldErr(n, path, "%v", err)
		}
		return l, nil
	}
	var l Latency
	set := map[string]*yaml.Node{}
	err := eachKey(n, path, func(key string, v *yaml.Node, p string) error {
		set[key] = v
		switch key {
		case "kind":
			if v.Kind != yaml.ScalarNode || isNull(v) {
				return fieldErr(v, p, "must be one of %s", strings.Join(Kinds, ", "))
			}
			l.Kind = v.Value
			return nil
		case "spike":
			if isNull(v) {
				return nil
			}
			s, err := decodeSpike(v, p)
			l.Spike = &s
			return err
		}
		d := l.field(key)
		if d == nil {
			return fieldErr(v, p, "unknown field (a latency has kind, %s, spike)", strings.Join(durationFields, ", "))
		}
		var err error
		*d, err = decodeDuration(v, p)
		return err
	})
	if err != nil {
		return Latency{}, err
	}
	if isNull(n) {
		return Latency{}, fieldErr(n, path, "missing latency")
	}
	used, known := fieldsOf[l.Kind]
	if set["kind"] == nil {
		return Latency{}, fieldErr(n, join(path, "kind"), "required (one of %s)", strings.Join(Kinds, ", "))
	}
	if !known || l.Kind == "" {
		return Latency{}, fieldErr(set["kind"], join(path, "kind"), "unknown latency kind %q (want one of %s)", l.Kind, strings.Join(Kinds, ", "))
	}
	for _, f := range durationFields {
		if v := set[f]; v != nil && !contains(used, f) {
			return Latency{}, fieldErr(v, join(path, f), "does not apply to latency kind %q (it uses %s)", l.Kind, usesText(l.Kind))
		}
	}
	for _, f := range used {
		if set[f] == nil {
			return Latency{}, fieldErr(n, join(path, f), "required for latency kind %q", l.Kind)
		}
	}
	if err := l.Validate(); err != nil {
		return Latency{}, locate(prefix(err, path), n, path)
	}
	return l, nil
}

func decodeSpike(n *yaml.Node, path string) (Spike, error) {
	if n.Kind == yaml.ScalarNode {
		s, err := parseSpike(n.Value)
		if err != nil {
			return Spike{}, fieldErr(n, path, "%v", err)
		}
		return s, nil
	}
	var s Spike
	var haveP, haveD bool
	err := eachKey(n, path, func(key string, v *yaml.Node, p string) error {
		var err error
		switch key {
		case "probability":
			s.Probability, err = decodeProb(v, p)
			haveP = true
		case "delay":
			s.Delay, err = decodeDuration(v, p)
			haveD = true
		default:
			err = fieldErr(v, p, "unknown field (a spike has probability, delay)")
		}
		return err
	})
	if err != nil {
		return Spike{}, err
	}
	if !haveP {
		return Spike{}, fieldErr(n, join(path, "probability"), "required")
	}
	if !haveD {
		return Spike{}, fieldErr(n, join(path, "delay"), "required")
	}
	return s, nil
}

func decodeFaults(n *yaml.Node, path string) (Faults, error) {
	var f Faults
	err := eachKey(n, path, func(key string, v *yaml.Node, p string) error {
		var err error
		switch key {
		case "error":
			f.Error, err = decodeProb(v, p)
		case "hang":
			f.Hang, err = decodeProb(v, p)
		case "reset":
			f.Reset, err = decodeProb(v, p)
		case "malformed":
			f.Malformed, err = decodeProb(v, p)
		default:
			err = fieldErr(v, p, "unknown field (faults are error, hang, reset, malformed)")
		}
		return err
	})
	if err != nil {
		return Faults{}, err
	}
	if err := f.Validate(); err != nil {
		return Faults{}, locate(prefix(err, path), n, path)
	}
	return f, nil
}

func decodeDuration(n *yaml.Node, path string) (Duration, error) {
	if n == nil || n.Kind != yaml.ScalarNode || isNull(n) {
		return 0, fieldErr(n, path, "must be a duration such as \"20ms\"")
	}
	d, err := parseDuration(n.Value)
	if err != nil {
		return 0, fieldErr(n, path, "%v", err)
	}
	return d, nil
}

func decodeProb(n *yaml.Node, path string) (float64, error) {
	if n == nil || n.Kind != yaml.ScalarNode || (n.Tag != "!!float" && n.Tag != "!!int") {
		return 0, fieldErr(n, path, "must be a probability (a number in 0..1)")
	}
	p, err := strconv.ParseFloat(n.Value, 64)
	if err != nil || math.IsNaN(p) || p < 0 || p > 1 {
		return 0, fieldErr(n, path, "probability %s is outside 0..1", n.Value)
	}
	return p, nil
}

func decodeCount(n *yaml.Node, path string) (int, error) {
	if n == nil || n.Kind != yaml.ScalarNode || n.Tag != "!!int" {
		return 0, fieldErr(n, path, "must be a whole number")
	}
	v, err := strconv.ParseInt(n.Value, 0, 32)
	if err != nil {
		return 0, fieldErr(n, path, "%q is not a whole number in range", n.Value)
	}
	if v < 0 {
		return 0, fieldErr(n, path, "negative value %d", v)
	}
	return int(v), nil
}

// jsonNode parses JSON into the node tree that the strict decoders walk, so
// JSON and YAML share one set of rules. Object keys keep their order.
func jsonNode(data []byte) (*yaml.Node, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	n, err := jsonValue(dec)
	if err != nil {
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("invalid JSON: data after the value")
	}
	return n, nil
}

func jsonValue(dec *json.Decoder) (*yaml.Node, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				v, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		case '[':
			n := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
			for dec.More() {
				v, err := jsonValue(dec)
				if err != nil {
					return nil, err
				}
				n.Content = append(n.Content, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return n, nil
		}
		return nil, fmt.Errorf("unexpected %v", t)
	case string:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: t}, nil
	case json.Number:
		tag := "!!float"
		if _, err := strconv.ParseInt(t.String(), 10, 64); err == nil {
			tag = "!!int"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: t.String()}, nil
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(t)}, nil
	case nil:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}, nil
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// decodeInto decodes n with decode and stores the result in dst only on
// success.
func decodeInto[T any](dst *T, n *yaml.Node, decode func(*yaml.Node, string) (T, error)) error {
	v, err := decode(n, "")
	if err != nil {
		return err
	}
	*dst = v
	return nil
}

// decodeJSONInto converts b to a node and decodes it like decodeInto.
func decodeJSONInto[T any](dst *T, b []byte, decode func(*yaml.Node, string) (T, error)) error {
	n, err := jsonNode(b)
	if err != nil {
		return err
	}
	return decodeInto(dst, n, decode)
}
