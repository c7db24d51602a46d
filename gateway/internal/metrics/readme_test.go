package metrics

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// TestREADMETable: the README's "Operating Fanout" table has one row per
// family of the gateway, in the catalogue's order, with its type and
// labels, and no row for a family the gateway does not write.
func TestREADMETable(t *testing.T) {
	raw, err := os.ReadFile("../../../README.md")
	if err != nil {
		t.Fatalf("the README: %v", err)
	}
	_, section, ok := strings.Cut(string(raw), "\n## Operating Fanout\n")
	if !ok {
		t.Fatal(`the README has no "## Operating Fanout" section`)
	}
	section, _, _ = strings.Cut(section, "\n## ")
	var got, want []string
	for line := range strings.Lines(section) {
		cells := strings.Split(strings.TrimSpace(line), " | ")
		if len(cells) < 5 || !strings.HasPrefix(cells[0], "| `") {
			continue
		}
		got = append(got, strings.Trim(cells[0], "| `")+" "+cells[1]+" "+strings.Trim(cells[3], "`"))
	}
	for _, f := range gatewayFamilies {
		labels := f.Labels
		if labels == "" {
			labels = "–"
		}
		want = append(want, f.Name+" "+f.Type+" "+labels)
	}
	if !slices.Equal(got, want) {
		t.Errorf("the README's metrics table has rows (name type labels)\n%s\nwant\n%s",
			strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
