package server_test

import (
	"bytes"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/VictoriaMetrics/metricsql"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.yaml.in/yaml/v3"
)

// alertsFile is the alerting rules that Fanout ships, from this package.
const alertsFile = "../../../deploy/prometheus/alerts.yaml"

// ruleFile is Prometheus's rule file format, as far as alerting rules use
// it; decoded strictly, so that a misspelt key is an error, not a rule
// silently without it.
type ruleFile struct {
	Groups []struct {
		Name     string `yaml:"name"`
		Interval string `yaml:"interval"`
		Rules    []struct {
			Alert       string            `yaml:"alert"`
			Expr        string            `yaml:"expr"`
			For         string            `yaml:"for"`
			Labels      map[string]string `yaml:"labels"`
			Annotations map[string]string `yaml:"annotations"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// TestAlertRules: the shipped rule file is well formed, has an alert for
// each condition an operator must hear of, and every expression parses as
// PromQL and reads only metric names and labels that a live gateway's
// /metrics carries.
func TestAlertRules(t *testing.T) {
	raw, err := os.ReadFile(alertsFile)
	if err != nil {
		t.Fatalf("the shipped alerting rules: %v", err)
	}
	var rf ruleFile
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&rf); err != nil {
		t.Fatalf("%s: %v", alertsFile, err)
	}
	var p expfmt.TextParser
	fams, err := p.TextToMetricFamilies(bytes.NewReader(scrapeAll(t)))
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}

	var alerts []string
	for _, g := range rf.Groups {
		if g.Name == "" || len(g.Rules) == 0 {
			t.Errorf("group %q: a group needs a name and rules", g.Name)
		}
		for _, r := range g.Rules {
			alerts = append(alerts, r.Alert)
			if r.Alert == "" {
				t.Errorf("group %s: a rule without an alert name (expr %q)", g.Name, r.Expr)
			}
			if _, err := model.ParseDuration(r.For); err != nil {
				t.Errorf("%s: for %q: %v", r.Alert, r.For, err)
			}
			if s := r.Labels["severity"]; s != "warning" && s != "critical" {
				t.Errorf("%s: severity %q, want warning or critical", r.Alert, s)
			}
			if r.Annotations["summary"] == "" || r.Annotations["description"] == "" {
				t.Errorf("%s: a summary and a description are for the one paged", r.Alert)
			}
			for _, problem := range exprProblems(r.Expr, fams) {
				t.Errorf("%s: %s", r.Alert, problem)
			}
		}
	}
	slices.Sort(alerts)
	want := []string{
		"FanoutBreakerOpen",          // open breakers
		"FanoutHedgeBudgetExhausted", // the hedge budget exhausted
		"FanoutHigh5xxRate",          // 5xx rate
		"FanoutP99NearDeadline",      // p99 against the deadline
		"FanoutShedding",             // shedding
		"FanoutStoreErrors",          // Redis errors
	}
	if !slices.Equal(alerts, want) {
		t.Errorf("alerts %v, want %v", alerts, want)
	}
}

// exprProblems parses expr as PromQL and checks each series selector in
// it against fams: its metric name must be a family (or a histogram's or
// summary's _bucket, _sum or _count series), and each label it filters on
// must be one the family's series carry.
func exprProblems(expr string, fams map[string]*dto.MetricFamily) []string {
	// metricsql parses MetricsQL, a superset of PromQL: the expressions
	// here use PromQL only, which Prometheus itself parses when it loads
	// the file.
	e, err := metricsql.Parse(expr)
	if err != nil {
		return []string{"expr does not parse: " + err.Error()}
	}
	var problems []string
	selectors := 0
	metricsql.VisitAll(e, func(x metricsql.Expr) {
		me, ok := x.(*metricsql.MetricExpr)
		if !ok {
			return
		}
		for _, lfs := range me.LabelFilterss {
			name := ""
			for _, lf := range lfs {
				if lf.Label == "__name__" {
					name = lf.Value
				}
			}
			selectors++
			f, labels := familyOf(name, fams)
			if f == nil {
				problems = append(problems, "/metrics has no series "+name)
				continue
			}
			for _, lf := range lfs {
				if lf.Label != "__name__" && !labels[lf.Label] {
					problems = append(problems, name+" has no label "+lf.Label)
				}
			}
		}
	})
	if selectors == 0 {
		problems = append(problems, "expr reads no series")
	}
	return problems
}

// familyOf returns the family that a series name belongs to and the labels
// its series carry (le for a histogram's buckets); nil if none.
func familyOf(name string, fams map[string]*dto.MetricFamily) (*dto.MetricFamily, map[string]bool) {
	f := fams[name]
	bucket := false
	if f == nil {
		for _, suffix := range []string{"_bucket", "_sum", "_count"} {
			base, ok := strings.CutSuffix(name, suffix)
			if g := fams[base]; ok && g != nil && (g.GetType() == dto.MetricType_HISTOGRAM || g.GetType() == dto.MetricType_SUMMARY) {
				f, bucket = g, suffix == "_bucket"
			}
		}
	}
	if f == nil {
		return nil, nil
	}
	labels := map[string]bool{"le": bucket}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = true
		}
	}
	return f, labels
}
