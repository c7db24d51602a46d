// Package auth holds the gateway's API tokens: the tokens file (-tokens),
// the development token generated when there is none, and the lookup of a
// presented bearer secret. A token file holds the SHA-256 of each secret,
// never the secret, so that reading the file gives no access.
package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"
)

// Access levels of a token, as the tokens file spells them.
const (
	AccessRead      = "read"
	AccessReadWrite = "read-write"
)

// DefaultRate is the rate limit of a token whose entry has no rate, and of
// the development token: generous for a person with curl, a brake on a
// runaway script.
var DefaultRate = Rate{Limit: 100, Per: time.Second}

// Rate is a token's rate limit: Limit requests per Per, with bursts of up
// to Limit.
type Rate struct {
	Limit int           `yaml:"limit"`
	Per   time.Duration `yaml:"per"`
}

// Token is one client's credentials and rights. It is read-only once
// loaded, so safe for concurrent use.
type Token struct {
	// Name identifies the token in logs and namespaces its state (rate
	// limit, idempotency records); it is not secret.
	Name string
	// Write is true for read-write tokens; read tokens may not POST.
	Write bool
	// Rate is the token's limit.
	Rate Rate
	// limitKey names the token's rate-limit state: its name and its rate,
	// built once here so that a request builds nothing.
	limitKey string
	// all: every project; else projects lists the ones the token sees.
	all      bool
	projects map[int64]struct{}
	hash     [sha256.Size]byte
}

// LimitKey is the key of the token's rate-limit state in the store: its
// name and its rate. A token whose rate a reloaded file changes gets a new
// key, so the new rate applies at once, from a full burst, instead of
// waiting for what the old rate spent to be repaid at that old pace (an
// hour, for a token cut to 1 per hour and raised again).
func (t *Token) LimitKey() string { return t.limitKey }

func limitKey(name string, r Rate) string {
	return name + "@" + strconv.Itoa(r.Limit) + "/" + r.Per.String()
}

// AllProjects reports whether the token sees every project.
func (t *Token) AllProjects() bool { return t.all }

// Sees reports whether the token may see the project.
func (t *Token) Sees(project int64) bool {
	if t.all {
		return true
	}
	_, ok := t.projects[project]
	return ok
}

// Set is the tokens the gateway accepts, by the SHA-256 of their secrets.
// It is read-only once built, so safe for concurrent use.
type Set struct {
	byHash map[[sha256.Size]byte]*Token
}

// Lookup returns the token whose secret is secret, or nil. It hashes the
// secret once and looks the hash up: the map's lookup time depends on the
// hash, not on how much of the secret an attacker guessed right, and the
// final comparison is constant-time besides.
func (s *Set) Lookup(secret []byte) *Token {
	if s == nil || len(secret) == 0 {
		return nil
	}
	h := sha256.Sum256(secret)
	t, ok := s.byHash[h]
	if !ok || subtle.ConstantTimeCompare(t.hash[:], h[:]) != 1 {
		return nil
	}
	return t
}

// Len returns the number of tokens.
func (s *Set) Len() int { return len(s.byHash) }

// file is the tokens file's shape. Projects is a node: either the word
// all or a list of project ids.
type file struct {
	Tokens []entry `yaml:"tokens"`
}

type entry struct {
	Name     string    `yaml:"name"`
	SHA256   string    `yaml:"sha256"`
	Projects yaml.Node `yaml:"projects"`
	Access   string    `yaml:"access"`
	Rate     *Rate     `yaml:"rate"`
}

// Load reads a tokens file; errors name the file, the line and the field.
func Load(path string) (*Set, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read tokens: %w", err)
	}
	s, err := Parse(data)
	if err != nil {
		return nil, fmt.Errorf("tokens %s: %w", path, err)
	}
	return s, nil
}

// Parse reads tokens from YAML:
//
//	tokens:
//	  - name: ci
//	    sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	    projects: [1, 2]          # or: all
//	    access: read-write        # or: read
//	    rate: {limit: 100, per: 1s}
//
// Unknown fields are errors; every error names the line and the field.
func Parse(data []byte) (*Set, error) {
	var f file
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&f); err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	// The lines of the entries, for the errors of the checks below.
	var doc yaml.Node
	_ = yaml.Unmarshal(data, &doc)
	lines := entryLines(&doc)
	if len(f.Tokens) == 0 {
		return nil, errors.New("tokens: none; want at least one")
	}
	s := &Set{byHash: make(map[[sha256.Size]byte]*Token, len(f.Tokens))}
	names := map[string]bool{}
	for i, e := range f.Tokens {
		line := 0
		if i < len(lines) {
			line = lines[i]
		}
		t, err := e.token()
		if err != nil {
			return nil, fmt.Errorf("line %d: tokens[%d].%w", line, i, err)
		}
		if names[t.Name] {
			return nil, fmt.Errorf("line %d: tokens[%d].name: %q is used twice", line, i, t.Name)
		}
		if _, dup := s.byHash[t.hash]; dup {
			return nil, fmt.Errorf("line %d: tokens[%d].sha256: the same secret as another token", line, i)
		}
		names[t.Name] = true
		s.byHash[t.hash] = t
	}
	return s, nil
}

// entryLines returns the line of each item of the top-level tokens list.
func entryLines(doc *yaml.Node) []int {
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil
	}
	m := doc.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == "tokens" {
			var lines []int
			for _, n := range m.Content[i+1].Content {
				lines = append(lines, n.Line)
			}
			return lines
		}
	}
	return nil
}

// token checks an entry; an error starts with the field's name.
func (e entry) token() (*Token, error) {
	t := &Token{Name: e.Name, Rate: DefaultRate}
	if e.Name == "" {
		return nil, errors.New("name: empty")
	}
	h, err := hex.DecodeString(e.SHA256)
	if err != nil || len(h) != sha256.Size {
		return nil, fmt.Errorf("sha256: want the 64 hex digits of the secret's SHA-256, got %q", e.SHA256)
	}
	copy(t.hash[:], h)
	switch e.Access {
	case AccessRead:
	case AccessReadWrite:
		t.Write = true
	default:
		return nil, fmt.Errorf("access: %q, want %s or %s", e.Access, AccessRead, AccessReadWrite)
	}
	switch p := &e.Projects; {
	case p.Kind == yaml.ScalarNode && p.Value == "all":
		t.all = true
	case p.Kind == yaml.SequenceNode && len(p.Content) > 0:
		t.projects = make(map[int64]struct{}, len(p.Content))
		for _, n := range p.Content {
			id, err := strconv.ParseInt(n.Value, 10, 64)
			if n.Kind != yaml.ScalarNode || err != nil || id < 1 {
				return nil, fmt.Errorf("projects: %q is not a project id (line %d)", n.Value, n.Line)
			}
			t.projects[id] = struct{}{}
		}
	default:
		return nil, errors.New("projects: want all or a list of project ids")
	}
	if e.Rate != nil {
		if err := e.Rate.Check(); err != nil {
			return nil, fmt.Errorf("rate: token %q: %w", e.Name, err)
		}
		t.Rate = *e.Rate
	}
	t.limitKey = limitKey(t.Name, t.Rate)
	return t, nil
}

// Bounds of a rate that the stores can enforce: Redis counts per in
// microseconds, and the in-memory limiter spaces requests Per / Limit
// nanoseconds apart, which must not round to none.
const (
	MinPer      = time.Microsecond
	MinInterval = time.Nanosecond
)

// Check returns why a rate cannot be enforced, or nil: it needs a limit of
// at least 1 per at least MinPer, with requests at least MinInterval apart
// on average.
func (r Rate) Check() error {
	switch {
	case r.Limit < 1 || r.Per <= 0:
		return fmt.Errorf("{limit: %d, per: %s}, want a limit of at least 1 per a positive duration", r.Limit, r.Per)
	case r.Per < MinPer:
		return fmt.Errorf("{limit: %d, per: %s}, want a per of at least %s", r.Limit, r.Per, MinPer)
	case r.Per/time.Duration(r.Limit) < MinInterval:
		return fmt.Errorf("{limit: %d, per: %s} allows more than one request per %s, want a longer per or a lower limit",
			r.Limit, r.Per, MinInterval)
	}
	return nil
}

// Dev returns a set of one token for development: a random secret that
// sees every project, read-write, at DefaultRate. The caller prints the
// secret; nothing else keeps it.
func Dev() (*Set, string, error) {
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return nil, "", fmt.Errorf("development token: %w", err)
	}
	secret := "dev_" + hex.EncodeToString(b)
	t := &Token{Name: "dev", Write: true, Rate: DefaultRate, all: true, hash: sha256.Sum256([]byte(secret))}
	t.limitKey = limitKey(t.Name, t.Rate)
	return &Set{byHash: map[[sha256.Size]byte]*Token{t.hash: t}}, secret, nil
}

// Hash returns the hex SHA-256 of a secret, as the tokens file wants it.
func Hash(secret string) string {
	h := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(h[:])
}
