package model

import (
	"encoding/json"
	"errors"
	"time"

	"go.yaml.in/yaml/v3"

	"fanout/mockbackends/strictyaml"
)

// Duration is a time.Duration that reads and writes as a Go duration string
// ("20ms", "1.5s") in YAML and JSON, so model files stay readable.
type Duration time.Duration

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d like time.Duration does ("20ms").
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalText writes d as a duration string; JSON and YAML encoders use it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.String()), nil }

// MarshalYAML writes d as a duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// UnmarshalText reads a Go duration string. Negative durations are rejected.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := parseDuration(string(b))
	if err != nil {
		return err
	}
	*d = v
	return nil
}

// UnmarshalJSON reads a duration string, or the number 0.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		var n json.Number
		if err2 := json.Unmarshal(b, &n); err2 != nil || n.String() != "0" {
			return errors.New(strictyaml.DurationReason(string(b)))
		}
		*d = 0
		return nil
	}
	return d.UnmarshalText([]byte(s))
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	dec := &strictyaml.Decoder{}
	v, err := dec.Duration(strictyaml.Resolve(n), "")
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

func parseDuration(s string) (Duration, error) {
	v, err := strictyaml.ParseDuration(s)
	return Duration(v), err
}
