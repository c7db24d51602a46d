package main

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"
)

// layoutBlock is the README's layout: the code block under "## Layout".
var layoutBlock = regexp.MustCompile("(?s)\n## Layout\n\n```\n(.*?)\n```")

// TestREADMELayoutNamesEveryPackage: the README's layout names every
// package under gateway/internal and bench, so that a package added
// without a word for the README's readers fails here.
func TestREADMELayoutNamesEveryPackage(t *testing.T) {
	raw, err := os.ReadFile("../README.md")
	m := layoutBlock.FindSubmatch(raw)
	if m == nil {
		t.Fatalf("the README has no layout block under \"## Layout\" (read: %v)", err)
	}
	layout := string(m[1])
	for _, tree := range []string{"internal", "../bench"} {
		entries, err := os.ReadDir(tree)
		if err != nil {
			t.Fatal(err)
		}
		named := 0
		for _, e := range entries {
			if !e.IsDir() || e.Name() == "testdata" {
				continue
			}
			named++
			if !regexp.MustCompile(`\b` + regexp.QuoteMeta(e.Name()) + `\b`).MatchString(layout) {
				t.Errorf("the README's layout does not name %s", filepath.Join(tree, e.Name()))
			}
		}
		if named == 0 {
			t.Errorf("no package found under %s", tree)
		}
	}
}
