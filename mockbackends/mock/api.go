package mock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/valyala/fasthttp"

	"fanout/mockbackends/dataset"
	"fanout/mockbackends/model"
)

// resourceNames names what each service's single-resource routes read, for
// their 404 messages. A service looks its name up once, as it starts: the
// hot path hashes no string.
var resourceNames = map[string]string{
	model.ServiceExperiments: "experiment",
	model.ServiceLayers:      "layer",
	model.ServiceProjects:    "project",
	model.ServiceResults:     "results of experiment",
}

// serve writes the normal answer of a routed request: a cached body, a
// list page, or a created experiment.
func (s *service) serve(ctx *fasthttp.RequestCtx, route int, rawID []byte, rc *counters) {
	total := &s.stats.total
	if s.name == model.ServiceExperiments {
		switch route {
		case routeListExperiments:
			s.list(ctx, rc)
			return
		case routeCreateExperiment:
			s.create(ctx, rc)
			return
		}
	}
	// Every other route reads one resource by its id: an id that is not a
	// number is as unknown as a number nobody generated.
	what := s.resource
	id, valid := idOf(ctx, rc, total, what, rawID)
	if !valid {
		return
	}
	var body []byte
	var ok bool
	switch s.name {
	case model.ServiceExperiments:
		body, ok = s.data.ExperimentJSON(id)
		if !ok {
			body, ok = s.store.get(id)
		}
	case model.ServiceLayers:
		body, ok = s.data.LayerJSON(id)
	case model.ServiceProjects:
		if route == routeGetSettings {
			body, ok = s.data.SettingsJSON(id)
		} else {
			body, ok = s.data.ProjectJSON(id)
		}
	case model.ServiceResults:
		body, ok = s.data.ResultsJSON(id)
	}
	if !ok {
		notFound(ctx, rc, total, what, rawID)
		return
	}
	ctx.SetContentTypeBytes(contentJSON)
	// The cached body is shared and never modified: no copy needed.
	ctx.Response.SetBodyRaw(body)
}

// Paging of GET /experiments.
const (
	defaultPerPage = 25
	maxPerPage     = 100
)

func badRequest(ctx *fasthttp.RequestCtx, rc, total *counters, code, field, msg string) {
	rc.errs[errBadRequest].Add(1)
	total.errs[errBadRequest].Add(1)
	writeJSON(ctx, 400, errorBody{Error: msg, Code: code, Field: field})
}

// refusal is the body of a 422: an RFC 9457 problem whose invalid_params
// names the field that breaks a business rule, plus the error, code and
// field every error of the backend API has.
type refusal struct {
	Type          string         `json:"type"`
	Title         string         `json:"title"`
	Status        int            `json:"status"`
	Detail        string         `json:"detail"`
	InvalidParams []invalidParam `json:"invalid_params"`
	errorBody
}

// invalidParam names one field of a refused body, by its path
// ("variations[1].weight"), and says why.
type invalidParam struct {
	Name   string `json:"name"`
	Reason string `json:"reason"`
}

// unprocessable answers 422 for a well-formed body that breaks a business
// rule; it counts as a bad request.
func unprocessable(ctx *fasthttp.RequestCtx, rc, total *counters, field, msg string) {
	rc.errs[errBadRequest].Add(1)
	total.errs[errBadRequest].Add(1)
	writeJSON(ctx, 422, refusal{
		Type:          "urn:fanout:mock:business-rule",
		Title:         "Unprocessable Entity",
		Status:        422,
		Detail:        msg,
		InvalidParams: []invalidParam{{Name: field, Reason: msg}},
		errorBody:     errorBody{Error: msg, Code: "business_rule", Field: field},
	})
	ctx.SetContentType("application/problem+json")
}

// intArg reads an optional positive integer query parameter.
func intArg(args *fasthttp.Args, name string, def, maxV int) (int, error) {
	v := args.Peek(name)
	if v == nil {
		return def, nil
	}
	n, err := strconv.Atoi(string(v))
	if err != nil || n < 1 || n > maxV {
		return 0, fmt.Errorf("%s must be an integer in 1..%d, got %q", name, maxV, v)
	}
	return n, nil
}

// list serves GET /experiments?project_id=&page=&per_page=: the
// experiments of one project (or of all, without project_id) by id, paged.
func (s *service) list(ctx *fasthttp.RequestCtx, rc *counters) {
	total := &s.stats.total
	args := ctx.QueryArgs()
	page, err := intArg(args, "page", 1, 1<<30)
	if err != nil {
		badRequest(ctx, rc, total, "invalid_parameter", "page", err.Error())
		return
	}
	perPage, err := intArg(args, "per_page", defaultPerPage, maxPerPage)
	if err != nil {
		badRequest(ctx, rc, total, "invalid_parameter", "per_page", err.Error())
		return
	}
	// The generated experiments of the scope, then the created ones.
	var first, last uint64 = 1, s.data.Experiments()
	var created []uint64
	var project uint64
	if raw := args.Peek("project_id"); raw != nil {
		id, ok := dataset.ParseID(raw)
		if !ok {
			badRequest(ctx, rc, total, "invalid_parameter", "project_id", fmt.Sprintf("project_id must be a positive decimal id, got %q", raw))
			return
		}
		if !s.data.HasProject(id) {
			notFound(ctx, rc, total, "project", raw)
			return
		}
		project = id
		first, last = s.data.ProjectExperiments(id)
		created = s.store.ofProject(id)
	} else {
		created = s.store.all()
	}
	generated := last - first + 1
	count := generated + uint64(len(created))
	offset := uint64(page-1) * uint64(perPage)

	b := make([]byte, 0, 64+perPage*700)
	b = append(b, `{"items":[`...)
	for i := offset; i < count && i < offset+uint64(perPage); i++ {
		if i > offset {
			b = append(b, ',')
		}
		var body []byte
		if i < generated {
			body, _ = s.data.ExperimentJSON(first + i)
		} else {
			body, _ = s.store.get(created[i-generated])
		}
		b = append(b, body...)
	}
	b = append(b, `],"page":`...)
	b = strconv.AppendInt(b, int64(page), 10)
	b = append(b, `,"per_page":`...)
	b = strconv.AppendInt(b, int64(perPage), 10)
	b = append(b, `,"total":`...)
	b = strconv.AppendUint(b, count, 10)
	b = append(b, `,"total_pages":`...)
	b = strconv.AppendUint(b, (count+uint64(perPage)-1)/uint64(perPage), 10)
	if project != 0 {
		b = append(b, `,"project_id":"`...)
		b = strconv.AppendUint(b, project, 10)
		b = append(b, '"')
	}
	b = append(b, '}')
	ctx.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBodyRaw(b)
}

// newExperiment is the body of POST /experiments. Ids may be sent as
// strings of digits or as numbers.
type newExperiment struct {
	ProjectID   json.RawMessage `json:"project_id"`
	Name        *string         `json:"name"`
	Description *string         `json:"description"`
	LayerID     json.RawMessage `json:"layer_id"`
	Status      *string         `json:"status"`
	Variations  []struct {
		Key    *string  `json:"key"`
		Name   *string  `json:"name"`
		Weight *float64 `json:"weight"`
	} `json:"variations"`
}

// jsonID reads an id sent as "42" or 42.
func jsonID(raw json.RawMessage) (uint64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' {
		raw = raw[1 : len(raw)-1]
	}
	return dataset.ParseID(raw)
}

// idempotencyKey is the request header under which a client (the gateway)
// makes a create idempotent: one experiment per key, as a real service
// would do it.
const idempotencyKey = "Idempotency-Key"

// create serves POST /experiments: it validates the body, stores the
// experiment in memory and answers 201 with it and its Location. A create
// with an Idempotency-Key that created an experiment before answers 201
// with that experiment again, creating nothing: a retry of a create whose
// answer was lost makes no second experiment.
func (s *service) create(ctx *fasthttp.RequestCtx, rc *counters) {
	if key := ctx.Request.Header.Peek(idempotencyKey); len(key) > 0 {
		// Creates with a key run one at a time, so that two attempts
		// with one key cannot both create.
		s.store.keyMu.Lock()
		defer s.store.keyMu.Unlock()
		if id, ok := s.store.keys[string(key)]; ok {
			body, _ := s.store.get(id)
			ctx.SetStatusCode(201)
			ctx.Response.Header.Set("Location", "/experiments/"+strconv.FormatUint(id, 10))
			ctx.SetContentTypeBytes(contentJSON)
			ctx.Response.SetBodyRaw(body)
			return
		}
		defer func() {
			if ctx.Response.StatusCode() == 201 {
				var e struct {
					ID string `json:"id"`
				}
				if json.Unmarshal(ctx.Response.Body(), &e) == nil {
					if id, err := strconv.ParseUint(e.ID, 10, 64); err == nil {
						if s.store.keys == nil {
							s.store.keys = map[string]uint64{}
						}
						s.store.keys[string(key)] = id
					}
				}
			}
		}()
	}
	total := &s.stats.total
	bad := func(field, format string, args ...any) {
		badRequest(ctx, rc, total, "invalid_body", field, fmt.Sprintf(format, args...))
	}
	// A body not of the shape the API takes is a 400; a well-formed one
	// that breaks a business rule (the project and the layer exist and
	// belong together, variation keys are unique, weights all given and
	// summing to 1) is a 422 problem naming the field.
	refuse := func(field, format string, args ...any) {
		unprocessable(ctx, rc, total, field, fmt.Sprintf(format, args...))
	}
	dec := json.NewDecoder(bytes.NewReader(ctx.PostBody()))
	dec.DisallowUnknownFields()
	var in newExperiment
	if err := dec.Decode(&in); err != nil {
		bad("", "body must be a JSON object with project_id and name: %v", err)
		return
	}
	if dec.More() {
		bad("", "body has data after the JSON object")
		return
	}
	if in.ProjectID == nil {
		bad("project_id", "project_id is required")
		return
	}
	project, ok := jsonID(in.ProjectID)
	if !ok {
		bad("project_id", "project_id must be a positive decimal id, got %s", in.ProjectID)
		return
	}
	if !s.data.HasProject(project) {
		refuse("project_id", "project %d does not exist", project)
		return
	}
	if in.Name == nil || *in.Name == "" || utf8.RuneCountInString(*in.Name) > 200 {
		bad("name", "name is required, 1 to 200 characters")
		return
	}
	e := dataset.Experiment{
		ProjectID:         dataset.ID(project),
		Name:              *in.Name,
		Status:            "draft",
		Type:              "a/b",
		TrafficAllocation: 1,
	}
	if in.Description != nil {
		if utf8.RuneCountInString(*in.Description) > 2000 {
			bad("description", "description is longer than 2000 characters")
			return
		}
		e.Description = *in.Description
	}
	first, _ := s.data.ProjectExperiments(project)
	layer := s.data.LayerOf(first)
	if in.LayerID != nil {
		l, ok := jsonID(in.LayerID)
		if !ok {
			bad("layer_id", "layer_id must be a positive decimal id, got %s", in.LayerID)
			return
		}
		if !s.data.HasLayer(l) {
			refuse("layer_id", "layer %d does not exist", l)
			return
		}
		if ll, _ := s.data.Layer(l); ll.ProjectID != e.ProjectID {
			refuse("layer_id", "layer %d belongs to project %s, not %d", l, ll.ProjectID, project)
			return
		}
		layer = l
	}
	e.LayerID = dataset.ID(layer)
	if in.Status != nil {
		if *in.Status != "draft" && *in.Status != "running" {
			bad("status", "status must be draft or running, got %q", *in.Status)
			return
		}
		e.Status = *in.Status
	}
	if r := s.variations(&e, in); r.reason != "" {
		if r.rule {
			refuse(r.field, "%s", r.reason)
		} else {
			bad(r.field, "%s", r.reason)
		}
		return
	}
	id := s.store.nextID(s.data.Experiments())
	e.ID = dataset.ID(id)
	for i := range e.Variations {
		e.Variations[i].ID = dataset.ID(id*10 + uint64(i) + 1)
	}
	e.Metrics = []dataset.Metric{
		{ID: dataset.ID((project-1)*8 + 1), Key: "purchase", Name: "Purchase"},
		{ID: dataset.ID((project-1)*8 + 2), Key: "add_to_cart", Name: "Add to cart"},
	}
	now := time.Now().UTC().Truncate(time.Second)
	e.CreatedAt, e.UpdatedAt = now, now
	if e.Status == "running" {
		e.StartedAt = &now
	}
	body, err := json.Marshal(e)
	if err != nil {
		writeError(ctx, 500, "internal", "encode experiment: "+err.Error())
		return
	}
	s.store.put(id, project, body)
	ctx.SetStatusCode(201)
	ctx.Response.Header.Set("Location", "/experiments/"+e.ID)
	ctx.SetContentTypeBytes(contentJSON)
	ctx.Response.SetBodyRaw(body)
}

// fault is what is wrong with a new experiment's variations: the field
// (a path such as "variations[1].key"), why, and whether it breaks a
// business rule (422) rather than the shape of the body (400).
type fault struct {
	field, reason string
	rule          bool
}

// variations checks the variations of a new experiment, or gives it a
// control and a treatment. It returns the fault found, or a zero fault.
func (s *service) variations(e *dataset.Experiment, in newExperiment) fault {
	if in.Variations == nil {
		e.Variations = []dataset.Variation{{Key: "control", Name: "Control", Weight: 0.5}, {Key: "variant_a", Name: "Variant A", Weight: 0.5}}
		return fault{}
	}
	n := len(in.Variations)
	if n < 2 || n > 20 {
		return fault{field: "variations", reason: fmt.Sprintf("an experiment has 2 to 20 variations, got %d", n)}
	}
	seen := map[string]bool{}
	weighted, unweighted, sum := 0, -1, 0.0
	for i, v := range in.Variations {
		at := fmt.Sprintf("variations[%d]", i)
		if v.Key == nil || *v.Key == "" || len(*v.Key) > 64 {
			return fault{field: at + ".key", reason: "key is required, 1 to 64 characters"}
		}
		if seen[*v.Key] {
			return fault{field: at + ".key", reason: fmt.Sprintf("key %q is given twice", *v.Key), rule: true}
		}
		seen[*v.Key] = true
		name := *v.Key
		if v.Name != nil {
			name = *v.Name
		}
		w := 1 / float64(n)
		if v.Weight != nil {
			if *v.Weight < 0 || *v.Weight > 1 {
				return fault{field: at + ".weight", reason: fmt.Sprintf("weight %v is outside 0..1", *v.Weight)}
			}
			w = *v.Weight
			weighted++
			sum += w
		} else if unweighted < 0 {
			unweighted = i
		}
		e.Variations = append(e.Variations, dataset.Variation{Key: *v.Key, Name: name, Weight: w})
	}
	switch {
	case weighted > 0 && weighted < n:
		return fault{field: fmt.Sprintf("variations[%d].weight", unweighted),
			reason: fmt.Sprintf("weights must be given for every variation or for none (%d of %d given)", weighted, n), rule: true}
	case weighted > 0 && (sum < 0.999 || sum > 1.001):
		return fault{field: "variations", reason: fmt.Sprintf("the weights sum to %v, not 1", round3(sum)), rule: true}
	}
	return fault{}
}

// round3 keeps three decimals of a sum of weights, so that a message says
// 0.9 rather than 0.8999999999999999.
func round3(x float64) float64 { return math.Round(x*1000) / 1000 }

// store keeps the experiments created through POST /experiments. Reads
// are lock-free; writes, rare, copy the per-project index.
type store struct {
	last      atomic.Uint64 // number of experiments created
	bodies    sync.Map      // id -> []byte
	mu        sync.Mutex
	byProject atomic.Pointer[map[uint64][]uint64]
	// keys maps the Idempotency-Key of each keyed create to the id it
	// created, under keyMu.
	keyMu sync.Mutex
	keys  map[string]uint64
}

func (st *store) nextID(generated uint64) uint64 { return generated + st.last.Add(1) }

func (st *store) get(id uint64) ([]byte, bool) {
	if st == nil {
		return nil, false
	}
	b, ok := st.bodies.Load(id)
	if !ok {
		return nil, false
	}
	return b.([]byte), true
}

func (st *store) put(id, project uint64, body []byte) {
	st.bodies.Store(id, body)
	st.mu.Lock()
	defer st.mu.Unlock()
	next := map[uint64][]uint64{}
	if old := st.byProject.Load(); old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	ids := append([]uint64(nil), next[project]...)
	// Ids are handed out in order but may be stored out of order.
	i := len(ids)
	for i > 0 && ids[i-1] > id {
		i--
	}
	ids = append(ids[:i], append([]uint64{id}, ids[i:]...)...)
	next[project] = ids
	st.byProject.Store(&next)
}

func (st *store) ofProject(project uint64) []uint64 {
	if st == nil {
		return nil
	}
	if m := st.byProject.Load(); m != nil {
		return (*m)[project]
	}
	return nil
}

func (st *store) all() []uint64 {
	if st == nil {
		return nil
	}
	m := st.byProject.Load()
	if m == nil {
		return nil
	}
	var ids []uint64
	for _, v := range *m {
		ids = append(ids, v...)
	}
	slices.Sort(ids)
	return ids
}
