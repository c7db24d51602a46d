package launch

import (
	"strings"
	"testing"
)

func TestParseMetrics(t *testing.T) {
	text := `# HELP fanout_requests_in_flight Requests being served.
# TYPE fanout_requests_in_flight gauge
fanout_requests_in_flight 7
fanout_hedges_sent_total{call="results"} 3
fanout_hedges_sent_total{call="a b}c"} 4 1700000000000
fanout_requests_in_flight_other 99
go_goroutines 12
`
	keep := func(name string) bool {
		return name == "fanout_requests_in_flight" || name == "fanout_hedges_sent_total"
	}
	got, err := ParseMetrics(strings.NewReader(text), keep)
	if err != nil {
		t.Fatal(err)
	}
	// Rows: a gauge alone; a counter with two label sets, one with a
	// brace and a space in its label and a timestamp, each a series of
	// its own and summed by Sums; a longer name with the same prefix is
	// another metric.
	if got["fanout_requests_in_flight"] != 7 || got[`fanout_hedges_sent_total{call="results"}`] != 3 ||
		got[`fanout_hedges_sent_total{call="a b}c"}`] != 4 || len(got) != 3 {
		t.Errorf("parsed %v, want in flight 7 and hedges 3 and 4", got)
	}
	if sums := got.Sums(); sums["fanout_requests_in_flight"] != 7 || sums["fanout_hedges_sent_total"] != 7 || len(sums) != 2 {
		t.Errorf("sums %v, want in flight 7 and hedges 7", sums)
	}
	if _, err := ParseMetrics(strings.NewReader("fanout_requests_in_flight seven\n"), keep); err == nil {
		t.Error("a value that is no number parsed")
	}
}
