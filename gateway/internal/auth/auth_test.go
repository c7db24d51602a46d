package auth

import (
	"strings"
	"testing"
	"time"
)

const good = `tokens:
  - name: ci
    sha256: 2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b
    projects: [1, 2]
    access: read-write
    rate: {limit: 10, per: 1m}
  - name: dashboard
    sha256: 35224d0d3465d74e855f8d69a136e79c744ea35a675d3393360a327cbf6359a2
    projects: all
    access: read
`

// TestParse: a good file gives each token its name, scope, access and
// rate; secrets are found by their hash.
func TestParse(t *testing.T) {
	s, err := Parse([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if s.Len() != 2 {
		t.Fatalf("%d tokens, want 2", s.Len())
	}
	ci := s.Lookup([]byte("secret")) // sha256("secret") is the first hash
	if ci == nil || ci.Name != "ci" || !ci.Write || ci.Rate != (Rate{Limit: 10, Per: time.Minute}) {
		t.Fatalf("ci: %+v", ci)
	}
	if !ci.Sees(1) || !ci.Sees(2) || ci.Sees(3) || ci.AllProjects() {
		t.Errorf("ci's projects: %+v", ci)
	}
	d := s.Lookup([]byte("secret2"))
	if d == nil || d.Name != "dashboard" || d.Write || !d.Sees(999) || d.Rate != DefaultRate {
		t.Errorf("dashboard: %+v", d)
	}
	for _, bad := range []string{"", "Secret", "secret ", "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"} {
		if tok := s.Lookup([]byte(bad)); tok != nil {
			t.Errorf("Lookup(%q) = %s, want none", bad, tok.Name)
		}
	}
}

// TestParseErrors: each fault of a tokens file names its line and field.
func TestParseErrors(t *testing.T) {
	const hash = "2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b"
	entry := func(fields string) string { return "tokens:\n  - name: a\n" + fields }
	for _, c := range []struct {
		name, file string
		want       []string
	}{
		{"no tokens", "tokens: []\n", []string{"none"}},
		{"unknown field", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    scope: x\n"), []string{"line 6", "scope"}},
		{"short hash", entry("    sha256: abc\n    projects: all\n    access: read\n"), []string{"line 2", "tokens[0].sha256"}},
		{"no access", entry("    sha256: " + hash + "\n    projects: all\n"), []string{"line 2", "access"}},
		{"bad access", entry("    sha256: " + hash + "\n    projects: all\n    access: admin\n"), []string{"access", "admin"}},
		{"no projects", entry("    sha256: " + hash + "\n    access: read\n"), []string{"projects"}},
		{"bad project", entry("    sha256: " + hash + "\n    projects: [1, x]\n    access: read\n"), []string{"projects", `"x"`, "line 4"}},
		{"zero rate", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    rate: {limit: 0, per: 1s}\n"), []string{"rate"}},
		// A limit per too short a time would divide by an interval of
		// zero on every request: refused at start-up, naming the token.
		{"rate too fine", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    rate: {limit: 2000, per: 1us}\n"), []string{"line 2", "rate", `token "a"`, "1ns"}},
		{"rate just too fine", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    rate: {limit: 1000001, per: 1ms}\n"), []string{"rate", `token "a"`}},
		{"per below the clock", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    rate: {limit: 1, per: 500ns}\n"), []string{"rate", `token "a"`, "1µs"}},
		{"bad duration", entry("    sha256: " + hash + "\n    projects: all\n    access: read\n    rate: {limit: 1, per: soon}\n"), []string{"line 6"}},
		{"no name", "tokens:\n  - sha256: " + hash + "\n    projects: all\n    access: read\n", []string{"line 2", "name"}},
		{"same name", good + "  - name: ci\n    sha256: " + strings.Repeat("0", 64) + "\n    projects: all\n    access: read\n", []string{"line 11", "name", "twice"}},
		{"same secret", good + "  - name: other\n    sha256: " + hash + "\n    projects: all\n    access: read\n", []string{"line 11", "sha256"}},
	} {
		_, err := Parse([]byte(c.file))
		if err == nil {
			t.Errorf("%s: no error", c.name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to say %q", c.name, err, w)
			}
		}
	}
}

// TestDev: each development token is new, sees every project, may write,
// and is found by its secret only.
func TestDev(t *testing.T) {
	s1, secret1, err := Dev()
	if err != nil {
		t.Fatal(err)
	}
	_, secret2, _ := Dev()
	if secret1 == secret2 || len(secret1) < 32 {
		t.Fatalf("secrets %q and %q", secret1, secret2)
	}
	tok := s1.Lookup([]byte(secret1))
	if tok == nil || !tok.Write || !tok.AllProjects() {
		t.Fatalf("dev token: %+v", tok)
	}
	if s1.Lookup([]byte(secret2)) != nil {
		t.Error("another run's secret is accepted")
	}
}
