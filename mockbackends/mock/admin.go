package mock

import (
	"encoding/json"
	"errors"
	"strings"

	"github.com/valyala/fasthttp"

	"fanout/mockbackends/model"
)

// admin serves /_admin/...: the model and the stats of this service. The
// prefix cannot collide with a service route, none of which starts with
// an underscore.
func (s *service) admin(ctx *fasthttp.RequestCtx) {
	method := string(ctx.Method())
	allow := func(methods ...string) bool {
		for _, m := range methods {
			if m == method || (m == "GET" && method == "HEAD") {
				return true
			}
		}
		ctx.Response.Header.Set("Allow", strings.Join(methods, ", "))
		writeError(ctx, 405, "method_not_allowed", "method "+method+" not allowed on "+string(ctx.Path()))
		return false
	}
	switch string(ctx.Path()) {
	case "/_admin/config":
		if !allow("GET", "PUT") {
			return
		}
		if method == "PUT" {
			m, err := model.DecodeService(ctx.PostBody(), s.name)
			if err == nil {
				err = s.setPolicy(m)
			}
			if err != nil {
				body := errorBody{Error: "invalid config: " + err.Error(), Code: "invalid_config"}
				var fe *model.FieldError
				if errors.As(err, &fe) {
					body.Field = fe.Path
				}
				writeJSON(ctx, 400, body)
				return
			}
			s.log.Info("config replaced", "service", s.name, "config", string(mustJSON(m)))
		}
		writeJSON(ctx, 200, s.policy.Load().svc)
	case "/_admin/stats":
		if allow("GET") {
			writeJSON(ctx, 200, s.stats.snapshot(s.name, s.routes))
		}
	case "/_admin/reset":
		if allow("POST") {
			s.stats.reset()
			ctx.SetStatusCode(204)
		}
	case "/_admin/health":
		if allow("GET") {
			writeJSON(ctx, 200, map[string]string{"status": "ok", "service": s.name})
		}
	default:
		writeError(ctx, 404, "not_found", "no admin route "+string(ctx.Path())+" (have /_admin/config, /_admin/stats, /_admin/reset, /_admin/health)")
	}
}

func mustJSON(v any) []byte {
	b, _ := json.Marshal(v)
	return b
}
