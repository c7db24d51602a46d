package mock

import (
	"bytes"

	"fanout/mockbackends/model"
)

// Route indexes within a service (positions in model.ServiceRoutes).
// match returns them for the hot path, which must not hash strings.
type match struct {
	route  int    // index into the service's routes; -1 when none
	id     []byte // the {id} segment, if the route has one
	status int    // 404 or 405 when route is -1
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
				return match{route: 1}
			case "POST":
				return match{route: 2}
			}
			return match{route: -1, status: 405, allow: "GET, POST"}
		case rest[0] == '/' && len(rest) > 1 && bytes.IndexByte(rest[1:], '/') < 0:
			if !get {
				return match{route: -1, status: 405, allow: "GET"}
			}
			return match{route: 0, id: rest[1:]}
		}
	case model.ServiceLayers:
		if id, ok := oneSegment(path, segLayers); ok {
			if !get {
				return match{route: -1, status: 405, allow: "GET"}
			}
			return match{route: 0, id: id}
		}
	case model.ServiceProjects:
		if !bytes.HasPrefix(path, segProjects) {
			break
		}
		rest := path[len(segProjects):]
		i := bytes.IndexByte(rest, '/')
		route := -1
		switch {
		case i < 0 && len(rest) > 0:
			route = 0
		case i > 0 && bytes.Equal(rest[i:], segSettings):
			route, rest = 1, rest[:i]
		}
		if route >= 0 {
			if !get {
				return match{route: -1, status: 405, allow: "GET"}
			}
			return match{route: route, id: rest}
		}
	case model.ServiceResults:
		if id, ok := oneSegment(path, segResults); ok {
			if !get {
				return match{route: -1, status: 405, allow: "GET"}
			}
			return match{route: 0, id: id}
		}
	}
	return match{route: -1, status: 404}
}

// oneSegment returns the segment after prefix when it is the last one.
func oneSegment(path, prefix []byte) ([]byte, bool) {
	if !bytes.HasPrefix(path, prefix) {
		return nil, false
	}
	id := path[len(prefix):]
	return id, len(id) > 0 && bytes.IndexByte(id, '/') < 0
}
