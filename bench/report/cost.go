package report

import (
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"fanout/bench/load"
	"fanout/bench/result"
)

// CostHeading heads the section of a cost scenario's report that the
// README carries as it is: the table of what each feature costs.
const CostHeading = "## What each feature costs"

// costHeader is the head of the cost table.
const costHeader = "| feature | config | CPU/request (ms) | × floor | vs all off | allocs/request | rounds |\n|---|---|---:|---:|---:|---:|---:|\n"

// spreadText formats a spread as "median (min–max)" with format, or "n/a"
// without rounds.
func spreadText(s result.Spread, format func(float64) string) string {
	switch {
	case s.N == 0:
		return "n/a"
	case s.N == 1 || s.Min == s.Max:
		return format(s.Median)
	}
	return fmt.Sprintf("%s (%s–%s)", format(s.Median), format(s.Min), format(s.Max))
}

func msText(v float64) string     { return strconv.FormatFloat(v, 'f', 3, 64) }
func ratioText(v float64) string  { return strconv.FormatFloat(v, 'f', 2, 64) + "×" }
func allocsText(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func diffText(v float64) string   { return fmt.Sprintf("%+.1f%%", 100*(v-1)) }

// CostTable renders the table of a cost measurement in markdown: per
// configuration, its CPU per request, its ratio to the floor's and its
// difference from the baseline's (each round against the same round of
// the other, the median and the range over the rounds), and its
// allocations per request.
func CostTable(c *result.Cost) string {
	b := &strings.Builder{}
	b.WriteString(costHeader)
	floor, hasFloor := c.Floor()
	base, hasBase := c.Row(c.Baseline)
	for _, r := range c.Rows {
		feature := r.Feature
		if feature == "" {
			feature = r.Name
		}
		if r.Error != "" {
			fmt.Fprintf(b, "| %s | %s | not measured: %s | | | | |\n", cell(feature), r.Name, cell(r.Error))
			continue
		}
		ratio, diff := "", ""
		if hasFloor && !r.Floor {
			ratio = spreadText(r.Ratio(floor), ratioText)
		}
		if hasBase && r.Name != c.Baseline {
			diff = spreadText(r.Ratio(base), diffText)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %d/%d |\n", cell(feature), r.Name, spreadText(r.CPU(), msText), ratio, diff,
			spreadText(r.Allocs(), allocsText), r.Counted(), len(r.Rounds))
	}
	return b.String()
}

// cell keeps a table cell on its line and its column.
func cell(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ").Replace(s)
}

// costMethod says how the figures of c were measured.
func costMethod(c *result.Cost) string {
	allocs := "allocs/request is the process's heap allocations over the round " +
		"(the gateway's go_memstats_mallocs_total, the floor's runtime.MemStats.Mallocs), less what reading them costs, per request. " +
		fmt.Sprintf("Rounds counts the rounds that count of those run: a round counts only if at least %.0f%% of its requests were answered 2xx, "+
			"since a refused or failed request costs less than a page and would flatter the figure.\n", 100*result.MinCostSuccess)
	if !c.Paired() {
		return fmt.Sprintf("Each configuration runs in a process of its own, started once and warmed up; then %d interleaved rounds "+
			"(every configuration in turn, then again) of %s at %s req/s each. CPU/request is the process's CPU time over its round "+
			"(all threads, from /proc/PID/task/*/schedstat) divided by the round's requests: the median of the rounds, with their range. "+
			"× floor and vs all off divide each round by the same round of the floor or of the configuration with every policy off, "+
			"so each pair shared the machine's state of that moment. ",
			c.Rounds, c.Duration, load.FormatRate(c.Rate)) + allocs
	}
	return fmt.Sprintf("Each configuration runs in a process of its own, in turn, warmed up, then measured in %d rounds of %s at %s req/s, "+
		"while the floor, started once, serves the same requests at the same rate beside it, on the same CPU. "+
		"CPU/request is the process's CPU time over its round (all threads, from /proc/PID/task/*/schedstat) divided by the round's requests: "+
		"the median of the rounds, with their range (the floor's over every round it ran). "+
		"× floor divides each round by the floor's round beside it: whatever the machine did at that moment touched both alike, "+
		"so the ratio holds within a few percent where CPU per request itself moves by a fifth from one second to the next. "+
		"vs all off divides each round's ratio to the floor by the median ratio of the configuration with every policy off. ",
		c.Rounds, c.Duration, load.FormatRate(c.Rate)) + allocs
}

// writeCost writes the cost table of a cost scenario, or the gateway's
// CPU beside the floor's of any other.
func writeCost(b *strings.Builder, s *result.Scenario) {
	b.WriteString(CostSection(s))
	if c := s.Floor; c != nil {
		b.WriteString("## CPU beside the floor\n\n")
		if line := FloorLine(c); line != "" {
			b.WriteString(line + ".\n\n")
		}
		b.WriteString("The floor is a bare fasthttp fan-out of the results page's four calls in the gateway's graph, composed by the " +
			"gateway's own composition, and nothing else: like the critical path for latency, its CPU per page is what no gateway's " +
			"code can beat. The gateway runs in concurrent mode with this scenario's settings, on its backends.\n\n")
		b.WriteString(CostTable(c) + "\n" + costMethod(c) + "\n")
	}
}

// CostSection returns the section of a cost scenario's report that the
// README carries as it is (bench report -readme): CostHeading, the machine
// and the run, the table, its notes and how it was measured. "" for
// another scenario.
func CostSection(s *result.Scenario) string {
	c := s.Cost
	if c == nil {
		return ""
	}
	b := &strings.Builder{}
	commit := s.Env.Commit
	if len(commit) > 12 {
		commit = commit[:12]
	}
	if s.Env.Dirty {
		commit += " (with local changes)"
	}
	loadAvg := ""
	if c.LoadAverage > 0 {
		loadAvg = fmt.Sprintf(", load average %.1f as it began", c.LoadAverage)
	}
	fmt.Fprintf(b, "%s\n\n", CostHeading)
	fmt.Fprintf(b, "The results page at %s req/s, scenario `%s`, run %s on %s, %d cores%s, %s, commit %s.\n\n",
		load.FormatRate(c.Rate), s.Name, s.Started.UTC().Format("2006-01-02 15:04 MST"), orUnknown(s.Env.CPU), s.Env.Cores,
		loadAvg, orUnknown(s.Env.GoVersion), orUnknown(commit))
	b.WriteString(CostTable(c))
	b.WriteString("\n")
	for _, n := range c.Notes {
		fmt.Fprintf(b, "- %s\n", n)
	}
	if len(c.Notes) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(costMethod(c) + "\n")
	return b.String()
}

// ReplaceSection returns doc with its section that starts with the line
// heading (a "## " heading) replaced by section, up to the next heading of
// that level or the end. It fails when doc has no such line.
func ReplaceSection(doc, heading, section string) (string, error) {
	lines := strings.SplitAfter(doc, "\n")
	start := -1
	for i, l := range lines {
		if strings.TrimRight(l, "\n") == heading {
			start = i
			break
		}
	}
	if start < 0 {
		return "", fmt.Errorf("no line %q", heading)
	}
	end := len(lines)
	for i := start + 1; i < len(lines); i++ {
		if strings.HasPrefix(lines[i], "## ") {
			end = i
			break
		}
	}
	head, tail := strings.Join(lines[:start], ""), strings.Join(lines[end:], "")
	if !strings.HasSuffix(section, "\n") {
		section += "\n"
	}
	if tail != "" && !strings.HasSuffix(section, "\n\n") {
		section += "\n"
	}
	return head + section + tail, nil
}

// FloorLine says in one line what the gateway's CPU per results page is
// beside the floor's in c (the gateway is the row that is not the
// floor): "" if either was not measured.
func FloorLine(c *result.Cost) string {
	floor, ok := c.Floor()
	if !ok || floor.Error != "" {
		return ""
	}
	for _, r := range c.Rows {
		if r.Floor || r.Error != "" || len(r.Rounds) == 0 {
			continue
		}
		how := "interleaved rounds"
		if c.Paired() {
			how = "rounds side by side"
		}
		return fmt.Sprintf("CPU per results page: gateway %s ms, floor %s ms: %s the floor's (%d %s of %s at %s req/s)",
			spreadText(r.CPU(), msText), spreadText(floor.CPU(), msText), spreadText(r.Ratio(floor), ratioText),
			c.Rounds, how, c.Duration.Round(time.Millisecond), load.FormatRate(c.Rate))
	}
	return ""
}

// CostLines writes the cost table as text lines for a terminal: per
// configuration, its CPU per request, its ratio to the floor, its
// difference from the baseline and its allocations per request.
func CostLines(w io.Writer, c *result.Cost) {
	floor, hasFloor := c.Floor()
	base, hasBase := c.Row(c.Baseline)
	for _, r := range c.Rows {
		if r.Error != "" {
			fmt.Fprintf(w, "  %-12s not measured: %s\n", r.Name, r.Error)
			continue
		}
		line := fmt.Sprintf("  %-12s CPU/request %s ms", r.Name, spreadText(r.CPU(), msText))
		if hasFloor && !r.Floor {
			line += "  " + spreadText(r.Ratio(floor), ratioText) + " floor"
		}
		if hasBase && r.Name != c.Baseline {
			line += "  " + spreadText(r.Ratio(base), diffText) + " vs " + c.Baseline
		}
		fmt.Fprintf(w, "%s  allocs/request %s  rounds %d/%d\n", line, spreadText(r.Allocs(), allocsText), r.Counted(), len(r.Rounds))
	}
}
