package spec

import (
	"regexp"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
)

// TestFieldRulesFromDocument: every field that fills a path gets the rule of
// the Id schema unless x-fanout names another, and the rule refuses what the
// schema refuses.
func TestFieldRulesFromDocument(t *testing.T) {
	s := load(t)
	op := s.Operation("getExperimentResults")
	layer := op.Fanout.Calls[1]
	rule, ok := layer.Fields["experiment.layer_id"]
	if !ok || rule.Number || rule.Check == nil {
		t.Fatalf("layer call's rules: %+v", layer.Fields)
	}
	for v, want := range map[string]bool{
		"7": true, "123456789012345678": true,
		"": false, "0": false, "..": false, "-1": false, "1/../2": false, "1%2F": false,
		"1234567890123456789": false, strings.Repeat("9", 300): false, "1\n": false,
	} {
		if got := rule.Check(v) == nil; got != want {
			t.Errorf("Check(%q) accepts: %v, want %v", v, got, want)
		}
	}
	if id, ok := s.ID(); !ok || id.Check("42") != nil || id.Check("4/2") == nil {
		t.Error("ID rule does not check like the Id schema")
	}
}

func TestFieldRuleErrors(t *testing.T) {
	old := "            path: /layers/{experiment.layer_id}\n"
	for _, c := range []struct{ fields, want string }{
		{"{experiment.layerid: Id}", "not referenced"},
		{"{experiment.layer_id: Nope}", `no component schema "Nope"`},
		{"{experiment.layer_id: Problem}", "only string and integer"},
	} {
		if err := loadEdited(t, old, old+"            fields: "+c.fields+"\n"); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("fields %s: error %v, want %q", c.fields, err, c.want)
		}
	}
}

// TestCompilePattern compares the table walk with regexp on the patterns it
// handles itself.
func TestCompilePattern(t *testing.T) {
	patterns := []string{`^[1-9][0-9]{0,17}$`, `^[a-z0-9_-]+$`, `^\d{3}$`, `^ab?c*$`, `^[A-Za-z]{2,}x$`, `^[0-9]*[0-9]$`}
	inputs := []string{"", "0", "1", "42", "123456789012345678", "1234567890123456789", "abc", "ac", "abbc", "a-b_c",
		"123", "12", "1234", "Abx", "ABCx", "x", "..", "1/2", "é", "9"}
	for _, p := range patterns {
		if _, err := parseAtoms(p); err != nil {
			t.Errorf("%s: %v, want it handled without regexp", p, err)
		}
		match, err := compilePattern(p)
		if err != nil {
			t.Fatal(err)
		}
		re := regexp.MustCompile(p)
		for _, in := range inputs {
			if got, want := match(in), re.MatchString(in); got != want {
				t.Errorf("%s on %q: %v, regexp says %v", p, in, got, want)
			}
		}
	}
	// Anything else still works, through regexp.
	match, err := compilePattern(`^(ab)+$`)
	if err != nil || !match("abab") || match("aba") {
		t.Errorf("fallback: %v", err)
	}
}

// BenchmarkIDCheck is the cost per field of checking an id against the Id
// schema, by the compiled table walk and by regexp for comparison.
func BenchmarkIDCheck(b *testing.B) {
	const pattern = `^[1-9][0-9]{0,17}$`
	match, err := compilePattern(pattern)
	if err != nil {
		b.Fatal(err)
	}
	re := regexp.MustCompile(pattern)
	for _, m := range []struct {
		name  string
		match func(string) bool
	}{{"table", match}, {"regexp", re.MatchString}} {
		b.Run(m.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if !m.match("4242") || m.match("42/../1") {
					b.Fatal("wrong match")
				}
			}
		})
	}
}

// TestStringRuleCountsCharacters: a string schema's lengths count
// characters, as JSON Schema and the request validation do, not bytes: a
// field of three two-byte characters fits a maxLength of 3.
func TestStringRuleCountsCharacters(t *testing.T) {
	three := uint64(3)
	rule, err := stringRule("Code", &openapi3.Schema{MinLength: 2, MaxLength: &three})
	if err != nil {
		t.Fatal(err)
	}
	for v, want := range map[string]bool{
		"ééé":  true,  // 3 characters, 6 bytes
		"éé":   true,  // 2 characters, 4 bytes
		"é":    false, // 1 character, 2 bytes
		"éééé": false, // 4 characters
		"abc":  true,
	} {
		if err := rule.Check(v); (err == nil) != want {
			t.Errorf("Check(%q) = %v, want accepted %v", v, err, want)
		}
	}
}
