package model

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"fanout/mockbackends/strictyaml"
)

// FieldError is a problem with one field of a model: where it is and why it
// is wrong. It is the strict YAML decoder's error, so that a model read
// from a bench scenario reads like the rest of that file.
type FieldError = strictyaml.Error

// prefix puts p in front of the path of a *FieldError; other errors become
// a FieldError at p.
func prefix(err error, p string) error {
	var fe *FieldError
	if !errors.As(err, &fe) {
		return &FieldError{Path: p, Reason: err.Error()}
	}
	out := *fe
	out.Path = strictyaml.Join(p, fe.Path)
	return &out
}

// Decode reads a whole model file: strict YAML (JSON is accepted too, being
// YAML) with a single top-level key "backends". name is the file name used
// in errors. The result is validated. Every problem of the file is returned
// at once, as strictyaml.Errors in line order.
func Decode(r io.Reader, name string) (Config, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	d := &strictyaml.Decoder{File: name}
	root, err := d.Parse(data)
	if err != nil {
		return nil, err
	}
	cfg := Config{}
	f, err := d.Fields(root, "", "backends")
	if d.OK(err) && f["backends"] != nil {
		cfg = DecodeConfig(d, f["backends"], "backends")
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		d.OK(locate(err, root, ""))
		return nil, d.Err()
	}
	return cfg, nil
}

// DecodeService reads the JSON of one service's model, as PUT
// /_admin/config receives it, strictly, and validates it as the model of
// service. Error paths are relative to the service ("latency.p99").
func DecodeService(data []byte, service string) (Service, error) {
	n, err := strictyaml.ParseJSON(data)
	if err != nil {
		return Service{}, err
	}
	d := &strictyaml.Decoder{}
	s := DecodeServiceFor(d, n, "", service)
	if err := d.Err(); err != nil {
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
	if r := strictyaml.Resolve(root); r != nil {
		line = r.Line
	}
	if rel != "" {
		for _, seg := range strings.Split(rel, ".") {
			n = strictyaml.Resolve(n)
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
// YAML document can embed a Config. Error paths start with "backends".
func (c *Config) UnmarshalYAML(n *yaml.Node) error {
	d := &strictyaml.Decoder{}
	cfg := DecodeConfig(d, n, "backends")
	if err := d.Err(); err != nil {
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
	return decodeJSONInto(c, b, func(d *strictyaml.Decoder, n *yaml.Node, _ string) Config {
		return DecodeConfig(d, n, "backends")
	})
}

// UnmarshalYAML decodes a Service strictly. Route names are checked by
// Config.Validate or DecodeService, which know the service.
func (s *Service) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(s, n, decodeService)
}

// UnmarshalJSON decodes a Service strictly.
func (s *Service) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(s, b, decodeService)
}

// UnmarshalYAML decodes a latency from its short form or a mapping, and
// validates it.
func (l *Latency) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(l, n, decodeLatency)
}

// UnmarshalJSON decodes a latency from its short form (a JSON string) or an
// object, and validates it.
func (l *Latency) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(l, b, decodeLatency)
}

// UnmarshalYAML decodes faults strictly and validates them.
func (f *Faults) UnmarshalYAML(n *yaml.Node) error {
	return decodeInto(f, n, decodeFaults)
}

// UnmarshalJSON decodes faults strictly and validates them.
func (f *Faults) UnmarshalJSON(b []byte) error {
	return decodeJSONInto(f, b, decodeFaults)
}

// DecodeConfig decodes the backends section n, whose path is path, with d:
// each problem is recorded in d, and the walk goes on to the next field.
// The result is meaningful only when d recorded nothing.
func DecodeConfig(d *strictyaml.Decoder, n *yaml.Node, path string) Config {
	cfg := Config{}
	d.OK(d.Mapping(n, path, func(name string, k, v *yaml.Node, p string) {
		if !KnownService(name) {
			d.OK(d.Errorf(k, p, "unknown service %q (known: %s)", name, strings.Join(Services, ", ")))
			return
		}
		cfg[name] = DecodeServiceFor(d, v, p, name)
	}))
	return cfg
}

// DecodeServiceFor decodes the model n of service, whose path is path, with
// d, as DecodeConfig does; route names are checked against the service.
func DecodeServiceFor(d *strictyaml.Decoder, n *yaml.Node, path, service string) Service {
	before := d.Count()
	s := decodeService(d, n, path)
	// Route names depend on the service: check them here, where the line
	// is known.
	for _, r := range slices.Sorted(maps.Keys(s.Routes)) {
		if !KnownRoute(service, r) {
			d.OK(locate(&FieldError{Path: strictyaml.Join(path, "routes."+r), Reason: fmt.Sprintf("unknown route %q of service %s (known: %s)", r, service, strings.Join(ServiceRoutes(service), ", "))}, n, path))
		}
	}
	// The walk above checks what Validate checks, field by field; Validate
	// stays as the last word, so that what is decoded without a problem is
	// valid by construction.
	if d.Count() == before {
		if err := s.Validate(service); err != nil {
			d.OK(locate(prefix(err, path), n, path))
		}
	}
	return s
}

func decodeService(d *strictyaml.Decoder, n *yaml.Node, path string) Service {
	var s Service
	f, err := d.Fields(n, path, "latency", "faults", "max_in_flight", "queue_limit", "routes")
	if !d.OK(err) {
		return s
	}
	s.Latency, s.Faults = decodeOverride(d, f, path)
	capOK := true
	if v := f["max_in_flight"]; v != nil {
		s.MaxInFlight, err = d.Int(v, strictyaml.Join(path, "max_in_flight"), 0)
		capOK = d.OK(err)
	}
	if v := f["queue_limit"]; v != nil {
		s.QueueLimit, err = d.Int(v, strictyaml.Join(path, "queue_limit"), 0)
		d.OK(err)
	}
	if v := f["routes"]; v != nil {
		d.OK(d.Mapping(v, strictyaml.Join(path, "routes"), func(name string, _, rv *yaml.Node, rp string) {
			if s.Routes == nil {
				s.Routes = map[string]Route{}
			}
			s.Routes[name] = decodeRoute(d, rv, rp)
		}))
	}
	// A cap with a problem is reported already: do not echo it here.
	if s.QueueLimit > 0 && s.MaxInFlight == 0 && capOK {
		d.OK(d.Errorf(f["queue_limit"], strictyaml.Join(path, "queue_limit"), "needs max_in_flight (without a cap nothing queues)"))
	}
	return s
}

func decodeRoute(d *strictyaml.Decoder, n *yaml.Node, path string) Route {
	var r Route
	f, err := d.Fields(n, path, "latency", "faults")
	if d.OK(err) {
		r.Latency, r.Faults = decodeOverride(d, f, path)
	}
	return r
}

// decodeOverride reads the latency and faults of a service or a route; a
// null or absent one stays nil.
func decodeOverride(d *strictyaml.Decoder, f map[string]*yaml.Node, path string) (*Latency, *Faults) {
	var l *Latency
	var fs *Faults
	if v := f["latency"]; !strictyaml.IsNull(v) {
		x := decodeLatency(d, v, strictyaml.Join(path, "latency"))
		l = &x
	}
	if v := f["faults"]; !strictyaml.IsNull(v) {
		x := decodeFaults(d, v, strictyaml.Join(path, "faults"))
		fs = &x
	}
	return l, fs
}

func decodeLatency(d *strictyaml.Decoder, n *yaml.Node, path string) Latency {
	n = strictyaml.Resolve(n)
	if strictyaml.IsNull(n) {
		d.OK(d.Errorf(n, path, "missing latency"))
		return Latency{}
	}
	if n.Kind == yaml.ScalarNode {
		l, err := parseLatency(n.Value)
		if err != nil {
			d.OK(d.Errorf(n, path, "%v", err))
		}
		return l
	}
	before := d.Count()
	var l Latency
	f, err := d.Fields(n, path, append(append([]string{"kind"}, durationFields...), "spike")...)
	if !d.OK(err) {
		return l
	}
	kindPath := strictyaml.Join(path, "kind")
	kindOK := false
	if v := f["kind"]; v == nil {
		d.OK(d.Errorf(n, kindPath, "required (one of %s)", strings.Join(Kinds, ", ")))
	} else {
		kind, err := d.Str(v, kindPath)
		_, known := fieldsOf[kind]
		switch {
		case !d.OK(err):
		case !known || kind == "":
			d.OK(d.Errorf(v, kindPath, "unknown latency kind %q (known: %s)", kind, strings.Join(Kinds, ", ")))
		default:
			l.Kind, kindOK = kind, true
		}
	}
	for _, name := range durationFields {
		if v := f[name]; v != nil {
			p := strictyaml.Join(path, name)
			dur, err := d.Duration(v, p)
			switch {
			case !d.OK(err):
			case kindOK && !slices.Contains(fieldsOf[l.Kind], name):
				d.OK(d.Errorf(v, p, "does not apply to latency kind %q (it uses %s)", l.Kind, usesText(l.Kind)))
			default:
				*l.field(name) = Duration(dur)
			}
		}
	}
	if kindOK {
		for _, name := range fieldsOf[l.Kind] {
			if f[name] == nil {
				d.OK(d.Errorf(n, strictyaml.Join(path, name), "required for latency kind %q", l.Kind))
			}
		}
	}
	if v := f["spike"]; !strictyaml.IsNull(v) {
		s := decodeSpike(d, v, strictyaml.Join(path, "spike"))
		l.Spike = &s
	}
	if d.Count() == before {
		if err := l.Validate(); err != nil {
			d.OK(locate(prefix(err, path), n, path))
		}
	}
	return l
}

func decodeSpike(d *strictyaml.Decoder, n *yaml.Node, path string) Spike {
	if n.Kind == yaml.ScalarNode {
		s, err := parseSpike(n.Value)
		if err != nil {
			d.OK(d.Errorf(n, path, "%v", err))
		}
		return s
	}
	var s Spike
	f, err := d.Fields(n, path, "probability", "delay")
	if !d.OK(err) {
		return s
	}
	if v := f["probability"]; v == nil {
		d.OK(d.Errorf(n, strictyaml.Join(path, "probability"), "required"))
	} else {
		s.Probability = decodeProb(d, v, strictyaml.Join(path, "probability"))
	}
	if v := f["delay"]; v == nil {
		d.OK(d.Errorf(n, strictyaml.Join(path, "delay"), "required"))
	} else {
		dur, err := d.Duration(v, strictyaml.Join(path, "delay"))
		d.OK(err)
		s.Delay = Duration(dur)
	}
	return s
}

func decodeFaults(d *strictyaml.Decoder, n *yaml.Node, path string) Faults {
	before := d.Count()
	var f Faults
	fields, err := d.Fields(n, path, FaultError, FaultHang, FaultReset, FaultMalformed, FaultNested, FaultStray, "nested_size")
	if !d.OK(err) {
		return f
	}
	// In file order of the kinds, so that a JSON body, whose nodes have no
	// line, reports its problems in a stable order.
	for _, k := range []struct {
		key string
		dst *float64
	}{{FaultError, &f.Error}, {FaultHang, &f.Hang}, {FaultReset, &f.Reset}, {FaultMalformed, &f.Malformed}, {FaultNested, &f.Nested}, {FaultStray, &f.Stray}} {
		if v := fields[k.key]; v != nil {
			*k.dst = decodeProb(d, v, strictyaml.Join(path, k.key))
		}
	}
	if v := fields["nested_size"]; v != nil {
		at := strictyaml.Join(path, "nested_size")
		size, err := d.Int(v, at, 0)
		if d.OK(err) {
			if reason := checkNestedSize(size); reason != "" {
				d.OK(d.Errorf(v, at, "%s", reason))
			} else {
				f.NestedSize = size
			}
		}
	}
	if d.Count() == before {
		if err := f.Validate(); err != nil {
			d.OK(locate(prefix(err, path), n, path))
		}
	}
	return f
}

// decodeProb reads a probability; a problem is recorded and gives 0.
func decodeProb(d *strictyaml.Decoder, n *yaml.Node, path string) float64 {
	p, err := d.Float(n, path)
	if !d.OK(err) {
		return 0
	}
	if p < 0 || p > 1 {
		d.OK(d.Errorf(n, path, "probability %s is outside 0..1", n.Value))
		return 0
	}
	return p
}

// decodeInto decodes n with decode and stores the result in dst only when
// it has no problem.
func decodeInto[T any](dst *T, n *yaml.Node, decode func(*strictyaml.Decoder, *yaml.Node, string) T) error {
	d := &strictyaml.Decoder{}
	v := decode(d, strictyaml.Resolve(n), "")
	if err := d.Err(); err != nil {
		return err
	}
	*dst = v
	return nil
}

// decodeJSONInto converts b to a node and decodes it like decodeInto.
func decodeJSONInto[T any](dst *T, b []byte, decode func(*strictyaml.Decoder, *yaml.Node, string) T) error {
	n, err := strictyaml.ParseJSON(b)
	if err != nil {
		return err
	}
	return decodeInto(dst, n, decode)
}
