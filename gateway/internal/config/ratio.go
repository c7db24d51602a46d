package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// DefaultHedgeBudget is the fraction of hedged calls that may get a
// duplicate: the 5 % that "The Tail at Scale" spent on its 95th
// percentile.
const DefaultHedgeBudget Ratio = 0.05

// Ratio is a fraction between 0 and 1, written as a percentage ("5%") or a
// fraction ("0.05"), in a flag or in the YAML file.
type Ratio float64

// String writes the ratio as a percentage.
func (r Ratio) String() string {
	return strconv.FormatFloat(float64(r)*100, 'f', -1, 64) + "%"
}

// Set reads "5%" or "0.05".
func (r *Ratio) Set(s string) error {
	t := strings.TrimSpace(s)
	scale := 1.0
	if p, ok := strings.CutSuffix(t, "%"); ok {
		t, scale = strings.TrimSpace(p), 0.01
	}
	v, err := strconv.ParseFloat(t, 64)
	if err != nil || v*scale < 0 || v*scale > 1 {
		return fmt.Errorf("%q is not a fraction between 0 and 1 or a percentage between 0%% and 100%%", s)
	}
	*r = Ratio(v * scale)
	return nil
}

// UnmarshalYAML reads a percentage or a fraction.
func (r *Ratio) UnmarshalYAML(n *yaml.Node) error {
	if err := r.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// Switch is a setting that is on or off, written "on" or "off" (also
// true/false) in a flag or in the YAML file.
type Switch bool

// String writes "on" or "off".
func (s Switch) String() string {
	if s {
		return "on"
	}
	return "off"
}

// Set reads on, off, true or false.
func (s *Switch) Set(v string) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "on", "true":
		*s = true
	case "off", "false":
		*s = false
	default:
		return fmt.Errorf("%q: want on or off", v)
	}
	return nil
}

// UnmarshalYAML reads on or off.
func (s *Switch) UnmarshalYAML(n *yaml.Node) error {
	if err := s.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// MarshalText writes the ratio as a percentage.
func (r Ratio) MarshalText() ([]byte, error) { return []byte(r.String()), nil }

// MarshalText writes "on" or "off".
func (s Switch) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// OptionalRatio is a Ratio that may be left unset, so that another source
// (an environment variable) decides when it is.
type OptionalRatio struct {
	Ratio Ratio
	Given bool
}

// String writes the ratio as a percentage, or "" when it is not given.
func (r OptionalRatio) String() string {
	if !r.Given {
		return ""
	}
	return r.Ratio.String()
}

// Set reads "5%" or "0.05", as Ratio does, and marks the ratio given.
func (r *OptionalRatio) Set(s string) error {
	if err := r.Ratio.Set(s); err != nil {
		return err
	}
	r.Given = true
	return nil
}

// UnmarshalYAML reads a percentage or a fraction, and marks it given; ""
// leaves it unset.
func (r *OptionalRatio) UnmarshalYAML(n *yaml.Node) error {
	if n.Value == "" {
		*r = OptionalRatio{}
		return nil
	}
	if err := r.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}

// FailMode is what a request gets when a check it needs cannot be made:
// FailOpen lets it through unchecked, FailClosed refuses it.
type FailMode string

// The values of a FailMode.
const (
	FailOpen   FailMode = "open"
	FailClosed FailMode = "closed"
)

// String writes the mode.
func (f FailMode) String() string { return string(f) }

// Set reads open or closed.
func (f *FailMode) Set(v string) error {
	switch m := FailMode(strings.ToLower(strings.TrimSpace(v))); m {
	case FailOpen, FailClosed:
		*f = m
		return nil
	}
	return fmt.Errorf("%q: want open or closed", v)
}

// UnmarshalYAML reads open or closed.
func (f *FailMode) UnmarshalYAML(n *yaml.Node) error {
	if err := f.Set(n.Value); err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	return nil
}
