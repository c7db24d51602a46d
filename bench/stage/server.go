package stage

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"net/http"
	"strings"
	"time"
)

// The page: one HTML file with its style and script inlined, so that it
// loads nothing from anywhere (no CDN: a talk's venue may have no network)
// and a recording of it is one file.
var (
	//go:embed page/index.html
	pageHTML string
	//go:embed page/stage.css
	pageCSS string
	//go:embed page/stage.js
	pageJS string
)

// maxControlBody bounds a control's request body: the largest is a
// backend's model, a few dozen bytes.
const maxControlBody = 64 << 10

// Handler serves the page and its API:
//
//	GET  /              the page
//	GET  /events        Server-Sent Events: "frame" every tick, "marker" on every change
//	GET  /api/state     the settings, scenes and history (State); ?history=0 leaves out frames and markers
//	POST /api/gateway   {"mode","pool_size","hedging","breakers","shedding","coalescing"}: restarts the gateway
//	POST /api/rate      {"rate": N}: the offered rate, requests/s
//	POST /api/backend   {"service","latency","error","hang","reset","malformed","nested","stray"}: a backend's model
//	POST /api/scene     {"scene": I}: plays scene I (from 0)
//	GET  /record        what was shown, as one self-contained HTML file
//
// A control's mistake (bad JSON, unknown mode, rate out of range) is a 400
// with {"error": "..."}; a process that would not start or answer a 502.
func (s *Stage) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-store")
		_, _ = w.Write(renderPage("null"))
	})
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		// The page has no icon; browsers ask for one anyway, and a 404
		// would be an error in their console.
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /events", s.events)
	mux.HandleFunc("GET /api/state", func(w http.ResponseWriter, r *http.Request) {
		st := s.State()
		if r.URL.Query().Get("history") == "0" {
			// The page refreshes its controls after every change: the
			// settings, not an hour of frames it already has.
			st.Frames, st.Markers = nil, nil
		}
		writeJSON(w, http.StatusOK, st)
	})
	mux.HandleFunc("GET /record", func(w http.ResponseWriter, r *http.Request) {
		name := "fanout-stage-" + time.Now().UTC().Format("20060102T150405Z") + ".html"
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
		_, _ = w.Write(renderPage(string(mustJSON(s.State()))))
	})
	mux.HandleFunc("POST /api/gateway", control(func(g Gateway) error { return s.SetGateway(g) }))
	mux.HandleFunc("POST /api/rate", control(func(v struct {
		Rate *float64 `json:"rate"`
	}) error {
		if v.Rate == nil {
			return badRequest("no rate")
		}
		return s.SetRate(*v.Rate)
	}))
	mux.HandleFunc("POST /api/backend", control(func(v struct {
		Service string `json:"service"`
		Backend
	}) error {
		return s.SetBackend(v.Service, v.Backend)
	}))
	mux.HandleFunc("POST /api/scene", control(func(v struct {
		Scene *int `json:"scene"`
	}) error {
		if v.Scene == nil {
			return badRequest("no scene")
		}
		return s.PlayScene(*v.Scene)
	}))
	return mux
}

// control decodes a control's JSON body strictly into a T, applies it, and
// answers the stage's state, or the error.
func control[T any](apply func(T) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var v T
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxControlBody))
		dec.DisallowUnknownFields()
		err := dec.Decode(&v)
		if err == nil && dec.More() {
			err = errors.New("more than one JSON value")
		}
		if err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "decode control: " + err.Error()})
			return
		}
		if err := apply(v); err != nil {
			code := http.StatusBadGateway
			if errors.Is(err, errBadRequest) {
				code = http.StatusBadRequest
			}
			writeJSON(w, code, map[string]string{"error": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(mustJSON(v))
}

// events streams frames and markers to one page until it goes away or the
// stage stops.
func (s *Stage) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ch := s.hub.subscribe()
	defer s.hub.unsubscribe(ch)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	// A comment first, so the page's EventSource opens at once.
	fmt.Fprint(w, ": fanout stage\n\n")
	fl.Flush()
	for {
		select {
		case ev, ok := <-ch:
			if !ok {
				return
			}
			if _, err := w.Write(ev); err != nil {
				return
			}
			fl.Flush()
		case <-r.Context().Done():
			return
		}
	}
}

// renderPage is the page with its style and script inlined and recording
// (JSON of a State, or null for the live page) as the data it draws: a
// recording draws that and opens no stream.
func renderPage(recording string) []byte {
	// "</" cannot end the script early inside JSON: it is written "<\/".
	recording = strings.ReplaceAll(recording, "</", `<\/`)
	r := strings.NewReplacer(
		"/*STYLE*/", pageCSS,
		"/*SCRIPT*/", "window.STAGE_RECORDING = "+recording+";\n"+pageJS,
		"<!--TITLE-->", html.EscapeString("Fanout on stage"),
	)
	var b bytes.Buffer
	_, _ = r.WriteString(&b, pageHTML)
	return b.Bytes()
}
