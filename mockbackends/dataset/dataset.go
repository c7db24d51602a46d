// Package dataset generates the mock backends' data: projects, their
// settings, layers, experiments and experiment results, each a pure
// function of its id and a seed, so every run with the same seed serves the
// same bytes. Ids are decimal integers from 1, written in JSON as strings of
// digits so they can go straight into paths.
//
// A Dataset is safe for concurrent use: it caches each JSON body the first
// time it is asked for, without locks.
package dataset

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"sync/atomic"
	"time"
)

// Defaults of Options.
const (
	DefaultProjects              = 50
	DefaultExperimentsPerProject = 20
	// MaxExperiments bounds Projects*ExperimentsPerProject so the body
	// caches stay small enough for a laptop.
	MaxExperiments = 10_000_000
	// maxLayersPerProject is how many layers a project's experiments are
	// spread over.
	maxLayersPerProject = 4
)

// Options size a Dataset.
type Options struct {
	Seed                  uint64 // the same seed gives the same data
	Projects              int    // 0 means DefaultProjects
	ExperimentsPerProject int    // 0 means DefaultExperimentsPerProject
}

// Dataset is a deterministic set of projects, layers, experiments and
// results. Project ids are 1..Projects; experiment ids 1..Projects*E, where
// experiment N belongs to project (N-1)/E+1; layer ids 1..Projects*L with L
// layers per project, L = min(4, E).
type Dataset struct {
	seed      uint64
	projects  uint64
	perProj   uint64
	perLayers uint64

	experiments []atomic.Pointer[[]byte]
	results     []atomic.Pointer[[]byte]
	layers      []atomic.Pointer[[]byte]
	projectsB   []atomic.Pointer[[]byte]
	settings    []atomic.Pointer[[]byte]
}

// New returns the Dataset that opts describe.
func New(opts Options) (*Dataset, error) {
	if opts.Projects == 0 {
		opts.Projects = DefaultProjects
	}
	if opts.ExperimentsPerProject == 0 {
		opts.ExperimentsPerProject = DefaultExperimentsPerProject
	}
	if opts.Projects < 0 || opts.ExperimentsPerProject < 0 {
		return nil, fmt.Errorf("dataset: negative size %d projects x %d experiments", opts.Projects, opts.ExperimentsPerProject)
	}
	n := int64(opts.Projects) * int64(opts.ExperimentsPerProject)
	if n > MaxExperiments {
		return nil, fmt.Errorf("dataset: %d projects x %d experiments is more than %d experiments", opts.Projects, opts.ExperimentsPerProject, MaxExperiments)
	}
	d := &Dataset{
		seed:      opts.Seed,
		projects:  uint64(opts.Projects),
		perProj:   uint64(opts.ExperimentsPerProject),
		perLayers: uint64(min(maxLayersPerProject, opts.ExperimentsPerProject)),
	}
	d.experiments = make([]atomic.Pointer[[]byte], n)
	d.results = make([]atomic.Pointer[[]byte], n)
	d.layers = make([]atomic.Pointer[[]byte], d.projects*d.perLayers)
	d.projectsB = make([]atomic.Pointer[[]byte], d.projects)
	d.settings = make([]atomic.Pointer[[]byte], d.projects)
	return d, nil
}

// Projects returns the number of projects.
func (d *Dataset) Projects() uint64 { return d.projects }

// Experiments returns the number of generated experiments.
func (d *Dataset) Experiments() uint64 { return d.projects * d.perProj }

// ExperimentsPerProject returns the number of experiments of each project.
func (d *Dataset) ExperimentsPerProject() uint64 { return d.perProj }

// Layers returns the number of layers.
func (d *Dataset) Layers() uint64 { return d.projects * d.perLayers }

// ProjectOf returns the project of a generated experiment.
func (d *Dataset) ProjectOf(experimentID uint64) uint64 { return (experimentID-1)/d.perProj + 1 }

// ProjectExperiments returns the first and last experiment ids of a project.
func (d *Dataset) ProjectExperiments(projectID uint64) (first, last uint64) {
	return (projectID-1)*d.perProj + 1, projectID * d.perProj
}

// LayerOf returns the layer of a generated experiment: a project's
// experiments are dealt over its layers in turn.
func (d *Dataset) LayerOf(experimentID uint64) uint64 {
	p := d.ProjectOf(experimentID)
	i := (experimentID - 1) % d.perProj
	return (p-1)*d.perLayers + i%d.perLayers + 1
}

// HasProject reports whether project id exists.
func (d *Dataset) HasProject(id uint64) bool { return id >= 1 && id <= d.projects }

// HasLayer reports whether layer id exists.
func (d *Dataset) HasLayer(id uint64) bool { return id >= 1 && id <= d.Layers() }

// HasExperiment reports whether experiment id is a generated one.
func (d *Dataset) HasExperiment(id uint64) bool { return id >= 1 && id <= d.Experiments() }

// ParseID reads a canonical decimal id: digits only, no sign, no leading
// zero, at least 1. Anything else is not an id.
func ParseID(s []byte) (uint64, bool) {
	if len(s) == 0 || len(s) > 19 || s[0] == '0' {
		return 0, false
	}
	var n uint64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// Kinds of generated record, mixed into the random stream of each one so
// that, say, project 3 and experiment 3 draw different numbers.
const (
	kindProject = iota + 1
	kindSettings
	kindLayer
	kindExperiment
	kindResults
)

// rng returns the random stream of one record.
func (d *Dataset) rng(kind, id uint64) *rand.Rand {
	return rand.New(rand.NewPCG(d.seed, splitmix(kind<<56^id)))
}

// splitmix scrambles x (SplitMix64's finaliser) so neighbouring ids seed
// unrelated streams.
func splitmix(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// cached returns the body in slot, generating and storing it on first use.
// Two goroutines may both generate a body; they are identical, and one wins.
func cached(slot *atomic.Pointer[[]byte], gen func() any) []byte {
	if b := slot.Load(); b != nil {
		return *b
	}
	b, err := json.Marshal(gen())
	if err != nil {
		// The generated records hold only finite numbers and always
		// marshal; should one ever fail, its body says so and stays
		// valid JSON.
		b, _ = json.Marshal(map[string]string{"error": "generate record: " + err.Error(), "code": "internal"})
	}
	slot.CompareAndSwap(nil, &b)
	return *slot.Load()
}

// recordJSON returns the body of record id from its slot among slots, or
// false when has does not know the id. has and record are method
// expressions, not method values: a method value bound to d would be
// allocated on every call of the mocks' hot path.
func recordJSON[R any](d *Dataset, slots []atomic.Pointer[[]byte], id uint64,
	has func(*Dataset, uint64) bool, record func(*Dataset, uint64) (R, bool)) ([]byte, bool) {
	if !has(d, id) {
		return nil, false
	}
	return cached(&slots[id-1], func() any { r, _ := record(d, id); return r }), true
}

// ExperimentJSON returns the JSON body of a generated experiment. The
// returned slice is shared: callers must not modify it.
func (d *Dataset) ExperimentJSON(id uint64) ([]byte, bool) {
	return recordJSON(d, d.experiments, id, (*Dataset).HasExperiment, (*Dataset).Experiment)
}

// ResultsJSON returns the JSON body of a generated experiment's results.
func (d *Dataset) ResultsJSON(experimentID uint64) ([]byte, bool) {
	return recordJSON(d, d.results, experimentID, (*Dataset).HasExperiment, (*Dataset).Results)
}

// LayerJSON returns the JSON body of a layer.
func (d *Dataset) LayerJSON(id uint64) ([]byte, bool) {
	return recordJSON(d, d.layers, id, (*Dataset).HasLayer, (*Dataset).Layer)
}

// ProjectJSON returns the JSON body of a project.
func (d *Dataset) ProjectJSON(id uint64) ([]byte, bool) {
	return recordJSON(d, d.projectsB, id, (*Dataset).HasProject, (*Dataset).Project)
}

// SettingsJSON returns the JSON body of a project's settings.
func (d *Dataset) SettingsJSON(projectID uint64) ([]byte, bool) {
	return recordJSON(d, d.settings, projectID, (*Dataset).HasProject, (*Dataset).Settings)
}

// ID formats an id as JSON wants it in this API: a string of digits.
func ID(n uint64) string { return strconv.FormatUint(n, 10) }

// epoch is the date the generated history starts from.
var epoch = time.Date(2025, 1, 6, 9, 0, 0, 0, time.UTC)

// round6 keeps six decimals: enough for rates, short in JSON.
func round6(x float64) float64 { return math.Round(x*1e6) / 1e6 }

func pick[T any](r *rand.Rand, list []T) T { return list[r.IntN(len(list))] }
