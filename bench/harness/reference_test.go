package harness

import (
	"os"
	"path/filepath"
	"testing"

	"fanout/bench/result"
	"fanout/bench/scenario"
)

// TestReferenceRunEvaluatesAlike evaluates the expectations of every
// scenario of the committed reference run (results/) once more, from its
// scenario.yaml and summary.json, and checks that each verdict and its
// figures are those the run recorded: a change in how figures are named
// or read cannot change what the reference run says.
func TestReferenceRunEvaluatesAlike(t *testing.T) {
	dirs, err := filepath.Glob("../../results/*/summary.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no reference run under results/: %v", err)
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			res, err := result.Read(dir)
			if err != nil {
				t.Fatal(err)
			}
			src := filepath.Join(dir, "scenario.yaml")
			if _, err := os.Stat(src); err != nil {
				t.Fatal(err)
			}
			s, err := scenario.LoadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			got := evaluate(s, res)
			if len(got) != len(res.Expectations) {
				t.Fatalf("%d expectations, the run recorded %d", len(got), len(res.Expectations))
			}
			for i, want := range res.Expectations {
				if got[i].Source != want.Source || got[i].Verdict != want.Verdict || got[i].Detail != want.Detail {
					t.Errorf("%s: %s (%s), the run recorded %s (%s)", want.Source, got[i].Verdict, got[i].Detail, want.Verdict, want.Detail)
				}
			}
		})
	}
}
