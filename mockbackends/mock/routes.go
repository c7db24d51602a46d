package mock

import (
	"bytes"
	"slices"

	"fanout/mockbackends/model"
)

// The routes of the hot path, by name. Each is the position of the route
// among its service's routes in model.Routes, the one table of routes: the
// index of the per-route policies and counters, so that the hot path never
// hashes a string.
var (
	routeGetExperiment    = routeIndex(model.RouteGetExperiment)
	routeListExperiments  = routeIndex(model.RouteListExperiments)
	routeCreateExperiment = routeIndex(model.RouteCreateExperiment)
	routeGetLayer         = routeIndex(model.RouteGetLayer)
	routeGetProject       = routeIndex(model.RouteGetProject)
	routeGetSettings      = routeIndex(model.RouteGetSettings)
	routeGetResults       = routeIndex(model.RouteGetResults)
)

// noRoute is the route of a request that matches none.
const noRoute = -1

// routeIndex returns the position of the named route among its service's
// routes. A name the table lacks is a bug of this package, caught as it
// loads.
func routeIndex(name string) int {
	for _, r := range model.Routes {
		if r.Name == name {
			return slices.Index(model.ServiceRoutes(r.Service), name)
		}
	}
	panic("mock: route " + name + " is not in model.Routes")
}

// A match is the route of one request, as routeOf found it.
type match struct {
	route  int    // index into the service's routes; noRoute when none
	id     []byte // the {id} segment, if the route has one
	status int    // 404 or 405 when route is noRoute
	allow  string // the Allow header for a 405
}

var (
	segExperiments = []byte("/experiments")
	segLayers      = []byte("/layers/")
	segProjects    = []byte("/projects/")
	segResults     = []byte("/results/")
	segSettings    = []byte("/settings")
)

// routeOf finds the route of a request to service; the indexes agree with
// model.ServiceRoutes (the tests check it against model.MatchRoute).
func routeOf(service string, method, path []byte) match {
	get := string(method) == "GET" || string(method) == "HEAD"
	switch service {
	case model.ServiceExperiments:
		if !bytes.HasPrefix(path, segExperiments) {
			break
		}
		rest := path[len(segExperiments):]
		switch {
		case len(rest) == 0:
			switch string(method) {
			case "GET", "HEAD":
				return match{route: routeListExperiments}
			case "POST":
				return match{route: routeCreateExperiment}
			}
			return match{route: noRoute, status: 405, allow: "GET, POST"}
		case rest[0] == '/' && len(rest) > 1 && bytes.IndexByte(rest[1:], '/') < 0:
			return getOnly(get, routeGetExperiment, rest[1:])
		}
	case model.ServiceLayers:
		if id, ok := oneSegment(path, segLayers); ok {
			return getOnly(get, routeGetLayer, id)
		}
	case model.ServiceProjects:
		if !bytes.HasPrefix(path, segProjects) {
			break
		}
		rest := path[len(segProjects):]
		i := bytes.IndexByte(rest, '/')
		switch {
		case i < 0 && len(rest) > 0:
			return getOnly(get, routeGetProject, rest)
		case i > 0 && bytes.Equal(rest[i:], segSettings):
			return getOnly(get, routeGetSettings, rest[:i])
		}
	case model.ServiceResults:
		if id, ok := oneSegment(path, segResults); ok {
			return getOnly(get, routeGetResults, id)
		}
	}
	return match{route: noRoute, status: 404}
}

// getOnly matches a route that answers GET (and HEAD) only.
func getOnly(get bool, route int, id []byte) match {
	if !get {
		return match{route: noRoute, status: 405, allow: "GET"}
	}
	return match{route: route, id: id}
}

// oneSegment returns the segment after prefix when it is the last one.
func oneSegment(path, prefix []byte) ([]byte, bool) {
	if !bytes.HasPrefix(path, prefix) {
		return nil, false
	}
	id := path[len(prefix):]
	return id, len(id) > 0 && bytes.IndexByte(id, '/') < 0
}
