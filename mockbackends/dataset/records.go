package dataset

import (
	"fmt"
	"math"
	"time"
)

// Project is a project: a product whose experiments share settings.
type Project struct {
	ID              string    `json:"id"`
	AccountID       string    `json:"account_id"`
	Name            string    `json:"name"`
	Description     string    `json:"description"`
	Platform        string    `json:"platform"`
	Status          string    `json:"status"`
	ExperimentCount uint64    `json:"experiment_count"`
	LayerIDs        []string  `json:"layer_ids"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
}

// Settings are a project's statistical and display settings.
type Settings struct {
	ProjectID                 string    `json:"project_id"`
	ConfidenceThreshold       float64   `json:"confidence_threshold"`
	Timezone                  string    `json:"timezone"`
	Currency                  string    `json:"currency"`
	StatsEngine               string    `json:"stats_engine"`
	MinimumSampleSize         int       `json:"minimum_sample_size"`
	MultipleTestingCorrection string    `json:"multiple_testing_correction"`
	BotFiltering              bool      `json:"bot_filtering"`
	UpdatedAt                 time.Time `json:"updated_at"`
}

// Layer is a mutually exclusive group of experiments: a visitor enters at
// most one experiment of a layer, which shares its traffic among them.
type Layer struct {
	ID                string       `json:"id"`
	ProjectID         string       `json:"project_id"`
	Name              string       `json:"name"`
	Description       string       `json:"description"`
	TrafficAllocation float64      `json:"traffic_allocation"` // share of the project's traffic entering the layer
	Allocations       []Allocation `json:"allocations"`
	CreatedAt         time.Time    `json:"created_at"`
}

// Allocation is one experiment's share (0..1) of its layer's traffic.
type Allocation struct {
	ExperimentID string  `json:"experiment_id"`
	Traffic      float64 `json:"traffic"`
}

// Experiment is an A/B experiment.
type Experiment struct {
	ID                string      `json:"id"`
	ProjectID         string      `json:"project_id"`
	LayerID           string      `json:"layer_id"`
	Name              string      `json:"name"`
	Description       string      `json:"description"`
	Status            string      `json:"status"`
	Type              string      `json:"type"`
	TrafficAllocation float64     `json:"traffic_allocation"`
	Variations        []Variation `json:"variations"`
	Metrics           []Metric    `json:"metrics"`
	CreatedAt         time.Time   `json:"created_at"`
	UpdatedAt         time.Time   `json:"updated_at"`
	StartedAt         *time.Time  `json:"started_at"`
	EndedAt           *time.Time  `json:"ended_at"`
}

// Variation is one arm of an experiment. Weights of an experiment sum to 1.
type Variation struct {
	ID     string  `json:"id"`
	Key    string  `json:"key"`
	Name   string  `json:"name"`
	Weight float64 `json:"weight"`
}

// Metric is a conversion event an experiment measures.
type Metric struct {
	ID   string `json:"id"`
	Key  string `json:"key"`
	Name string `json:"name"`
}

// Results are an experiment's figures per metric and variation.
type Results struct {
	ExperimentID  string         `json:"experiment_id"`
	ProjectID     string         `json:"project_id"`
	Status        string         `json:"status"`
	ComputedAt    time.Time      `json:"computed_at"`
	StartTime     time.Time      `json:"start_time"`
	Visitors      int64          `json:"visitors"`
	Metrics       []MetricResult `json:"metrics"`
	Confidence    float64        `json:"confidence_level"`
	StatsEngine   string         `json:"stats_engine"`
	SampleRatioOK bool           `json:"sample_ratio_ok"`
}

// MetricResult gives one metric's figures for every variation. Baseline is
// the key of the variation the others are compared with.
type MetricResult struct {
	ID         string            `json:"id"`
	Key        string            `json:"key"`
	Name       string            `json:"name"`
	Baseline   string            `json:"baseline"`
	Variations []VariationResult `json:"variations"`
}

// VariationResult is one variation's figures for one metric. Lift and the
// interval are relative to the baseline (nil for the baseline itself).
type VariationResult struct {
	VariationID        string    `json:"variation_id"`
	Key                string    `json:"key"`
	Visitors           int64     `json:"visitors"`
	Conversions        int64     `json:"conversions"`
	Rate               float64   `json:"rate"`
	Lift               *float64  `json:"lift"`
	ConfidenceInterval *Interval `json:"confidence_interval"`
	PValue             *float64  `json:"p_value"`
}

// Interval is a confidence interval of a lift at a level.
type Interval struct {
	Low   float64 `json:"low"`
	High  float64 `json:"high"`
	Level float64 `json:"level"`
}

var (
	productNames = []string{"Storefront", "Checkout", "Mobile App", "Search", "Onboarding", "Pricing", "Newsletter", "Help Center", "Marketplace", "Dashboard"}
	platforms    = []string{"web", "web", "web", "ios", "android", "server"}
	timezones    = []string{"UTC", "Europe/Berlin", "Europe/London", "Europe/Paris", "America/New_York", "America/Los_Angeles", "America/Sao_Paulo", "Asia/Tokyo", "Asia/Singapore", "Australia/Sydney"}
	currencies   = []string{"EUR", "USD", "GBP", "JPY", "BRL", "AUD"}
	thresholds   = []float64{0.9, 0.95, 0.95, 0.95, 0.99}
	engines      = []string{"frequentist", "frequentist", "sequential", "bayesian"}
	corrections  = []string{"none", "bonferroni", "benjamini_hochberg"}
	layerThemes  = []string{"Homepage", "Checkout flow", "Search results", "Product page", "Navigation", "Emails", "Pricing page", "Sign-up"}
	subjects     = []string{"button colour", "headline", "hero image", "free shipping banner", "price anchoring", "one-page checkout", "recommendations", "social proof", "trust badges", "urgency timer", "onboarding tour", "search ranking"}
	statuses     = []string{"running", "running", "running", "running", "running", "paused", "completed", "completed", "draft"}
	metricKinds  = []struct{ key, name string }{
		{"purchase", "Purchase"}, {"add_to_cart", "Add to cart"}, {"signup", "Sign-up"}, {"checkout_start", "Checkout started"},
		{"click_cta", "CTA click"}, {"newsletter", "Newsletter subscription"}, {"search", "Search performed"}, {"page_view_2plus", "Two or more page views"},
	}
	variationNames = []string{"Control", "Variant A", "Variant B", "Variant C"}
	variationKeys  = []string{"control", "variant_a", "variant_b", "variant_c"}
)

// Project generates project id.
func (d *Dataset) Project(id uint64) (Project, bool) {
	if !d.HasProject(id) {
		return Project{}, false
	}
	r := d.rng(kindProject, id)
	created := epoch.Add(-time.Duration(200+r.IntN(500)) * 24 * time.Hour).Add(time.Duration(r.IntN(86400)) * time.Second)
	p := Project{
		ID:              ID(id),
		AccountID:       ID(1000 + (id-1)/5 + 1),
		Name:            fmt.Sprintf("%s %d", pick(r, productNames), id),
		Description:     "Experiments of the " + pick(r, productNames) + " team.",
		Platform:        pick(r, platforms),
		Status:          "active",
		ExperimentCount: d.perProj,
		CreatedAt:       created,
		UpdatedAt:       epoch.Add(time.Duration(r.IntN(300*86400)) * time.Second),
	}
	for k := uint64(0); k < d.perLayers; k++ {
		p.LayerIDs = append(p.LayerIDs, ID((id-1)*d.perLayers+k+1))
	}
	return p, true
}

// Settings generates the settings of project id.
func (d *Dataset) Settings(projectID uint64) (Settings, bool) {
	if !d.HasProject(projectID) {
		return Settings{}, false
	}
	r := d.rng(kindSettings, projectID)
	return Settings{
		ProjectID:                 ID(projectID),
		ConfidenceThreshold:       pick(r, thresholds),
		Timezone:                  pick(r, timezones),
		Currency:                  pick(r, currencies),
		StatsEngine:               pick(r, engines),
		MinimumSampleSize:         (1 + r.IntN(20)) * 500,
		MultipleTestingCorrection: pick(r, corrections),
		BotFiltering:              r.IntN(4) != 0,
		UpdatedAt:                 epoch.Add(time.Duration(r.IntN(300*86400)) * time.Second),
	}, true
}

// Layer generates layer id.
func (d *Dataset) Layer(id uint64) (Layer, bool) {
	if !d.HasLayer(id) {
		return Layer{}, false
	}
	r := d.rng(kindLayer, id)
	project := (id-1)/d.perLayers + 1
	k := (id - 1) % d.perLayers
	l := Layer{
		ID:                ID(id),
		ProjectID:         ID(project),
		Name:              fmt.Sprintf("%s layer %d", pick(r, layerThemes), k+1),
		Description:       "Mutually exclusive experiments sharing one surface.",
		TrafficAllocation: []float64{1, 1, 0.5, 0.8}[r.IntN(4)],
		CreatedAt:         epoch.Add(-time.Duration(r.IntN(150)) * 24 * time.Hour),
		Allocations:       []Allocation{},
	}
	first, last := d.ProjectExperiments(project)
	var members []uint64
	for e := first + k; e <= last; e += d.perLayers {
		members = append(members, e)
	}
	for _, e := range members {
		l.Allocations = append(l.Allocations, Allocation{ExperimentID: ID(e), Traffic: round6(1 / float64(len(members)))})
	}
	return l, true
}

// Experiment generates experiment id.
func (d *Dataset) Experiment(id uint64) (Experiment, bool) {
	if !d.HasExperiment(id) {
		return Experiment{}, false
	}
	r := d.rng(kindExperiment, id)
	project := d.ProjectOf(id)
	created := epoch.Add(time.Duration(r.IntN(280*86400)) * time.Second)
	e := Experiment{
		ID:                ID(id),
		ProjectID:         ID(project),
		LayerID:           ID(d.LayerOf(id)),
		Status:            pick(r, statuses),
		Type:              "a/b",
		TrafficAllocation: []float64{1, 1, 0.5, 0.2, 0.1}[r.IntN(5)],
		CreatedAt:         created,
		UpdatedAt:         created.Add(time.Duration(r.IntN(20*86400)) * time.Second),
	}
	subject := pick(r, subjects)
	e.Name = fmt.Sprintf("%s test %d", subject, id)
	e.Name = string(e.Name[0]-'a'+'A') + e.Name[1:]
	e.Description = "Does changing the " + subject + " lift conversions?"
	if e.Status != "draft" {
		s := created.Add(time.Duration(1+r.IntN(5)) * 24 * time.Hour)
		e.StartedAt = &s
		if e.UpdatedAt.Before(s) {
			e.UpdatedAt = s
		}
	}
	if e.Status == "completed" {
		end := e.StartedAt.Add(time.Duration(14+r.IntN(30)) * 24 * time.Hour)
		e.EndedAt = &end
		e.UpdatedAt = end
	}
	// Two to four variations; with four, fewer metrics, so that the
	// results body stays within 1..4 KB.
	nv := 2 + r.IntN(3)
	nm := 2 + r.IntN(4)
	switch nv {
	case 2:
		nm = max(nm, 3)
	case 4:
		nm = min(nm, 4)
	}
	weights := splitWeights(nv, r.IntN(3) == 0)
	for v := 0; v < nv; v++ {
		e.Variations = append(e.Variations, Variation{
			ID:     ID(id*10 + uint64(v) + 1),
			Key:    variationKeys[v],
			Name:   variationNames[v],
			Weight: weights[v],
		})
	}
	perm := r.Perm(len(metricKinds))
	for _, m := range perm[:nm] {
		e.Metrics = append(e.Metrics, Metric{
			ID:   ID((project-1)*uint64(len(metricKinds)) + uint64(m) + 1),
			Key:  metricKinds[m].key,
			Name: metricKinds[m].name,
		})
	}
	return e, true
}

// splitWeights shares 1 among n variations: evenly, or with the control
// holding half when uneven is set.
func splitWeights(n int, uneven bool) []float64 {
	w := make([]float64, n)
	if uneven && n > 2 {
		w[0] = 0.5
		for i := 1; i < n; i++ {
			w[i] = round6(0.5 / float64(n-1))
		}
		return w
	}
	for i := range w {
		w[i] = round6(1 / float64(n))
	}
	return w
}

// Results generates the results of experiment id from its variations and
// metrics: visitors split by weight, conversions around a base rate with a
// per-variation true lift, and the observed lift with a normal-approximation
// confidence interval.
func (d *Dataset) Results(experimentID uint64) (Results, bool) {
	e, ok := d.Experiment(experimentID)
	if !ok {
		return Results{}, false
	}
	r := d.rng(kindResults, experimentID)
	total := int64(0)
	if e.StartedAt != nil {
		total = int64(2000 + r.IntN(400_000))
	}
	res := Results{
		ExperimentID:  e.ID,
		ProjectID:     e.ProjectID,
		Status:        e.Status,
		ComputedAt:    e.UpdatedAt.Add(time.Duration(r.IntN(3600)) * time.Second),
		StartTime:     e.CreatedAt,
		Visitors:      total,
		Confidence:    0.95,
		StatsEngine:   "frequentist",
		SampleRatioOK: r.IntN(20) != 0,
	}
	if e.StartedAt != nil {
		res.StartTime = *e.StartedAt
	}
	visitors := make([]int64, len(e.Variations))
	for i, v := range e.Variations {
		visitors[i] = int64(float64(total) * v.Weight * (0.98 + 0.04*r.Float64()))
	}
	const z95 = 1.959963984540054
	for _, m := range e.Metrics {
		base := 0.01 + 0.2*r.Float64()
		mr := MetricResult{ID: m.ID, Key: m.Key, Name: m.Name, Baseline: e.Variations[0].Key}
		var rb float64
		var nb int64
		for i, v := range e.Variations {
			n := visitors[i]
			trueRate := base
			if i > 0 {
				trueRate = base * (1 + 0.15*(r.Float64()*2-1))
			}
			conv := int64(0)
			if n > 0 {
				sd := math.Sqrt(float64(n) * trueRate * (1 - trueRate))
				conv = max(0, min(n, int64(math.Round(float64(n)*trueRate+sd*r.NormFloat64()))))
			}
			vr := VariationResult{VariationID: v.ID, Key: v.Key, Visitors: n, Conversions: conv}
			rate := 0.0
			if n > 0 {
				rate = float64(conv) / float64(n)
			}
			vr.Rate = round6(rate)
			if i == 0 {
				rb, nb = rate, n
			} else if rb > 0 && n > 0 && nb > 0 {
				se := math.Sqrt(rate*(1-rate)/float64(n) + rb*(1-rb)/float64(nb))
				lift := round6((rate - rb) / rb)
				ci := Interval{Low: round6((rate - rb - z95*se) / rb), High: round6((rate - rb + z95*se) / rb), Level: 0.95}
				p := 1.0
				if se > 0 {
					p = round6(math.Erfc(math.Abs(rate-rb) / se / math.Sqrt2))
				}
				vr.Lift, vr.ConfidenceInterval, vr.PValue = &lift, &ci, &p
			}
			mr.Variations = append(mr.Variations, vr)
		}
		res.Metrics = append(res.Metrics, mr)
	}
	return res, true
}
