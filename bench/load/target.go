package load

import (
	"strconv"
	"strings"
	"time"
)

// DefaultTimeout is the timeout of one request when an Attack sets none.
const DefaultTimeout = 5 * time.Second

// Target is one kind of request of an attack. The attack library has its
// own type, apart from the scenario file's, so that it knows nothing of
// how a workload is written down: the harness converts.
type Target struct {
	// Name labels the target in reports.
	Name string
	// Method is the HTTP method.
	Method string
	// Path is the request path; "{id}" in it is replaced by an id drawn
	// from IDs for each request.
	Path string
	// IDs is the range ids are drawn from.
	IDs IDRange
	// Weight is the relative share of requests.
	Weight float64
	// Body is sent with the request.
	Body string
	// Zipf, when above 1, draws ids from a Zipf distribution of that skew
	// instead of uniformly: id Min is the hottest, and the probability of
	// the k-th id falls as k^-Zipf. 0 means uniform.
	Zipf float64
}

// IDRange is an inclusive range of ids.
type IDRange struct{ Min, Max int }

// FormatRate formats a rate without needless decimals, as the bench names
// and shows rates: "500", "12.5".
func FormatRate(r float64) string { return strconv.FormatFloat(r, 'f', -1, 64) }

// Expand returns Path with "{id}" replaced by id.
func (t Target) Expand(id int) string {
	return strings.ReplaceAll(t.Path, "{id}", strconv.Itoa(id))
}
