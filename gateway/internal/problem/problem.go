// Package problem writes RFC 9457 problem details (application/problem+json),
// the body of every error the gateway returns.
package problem

import (
	"encoding/json"

	"github.com/valyala/fasthttp"
)

// ContentType is the media type of a problem body.
const ContentType = "application/problem+json"

// Types of problem, as URIs. Clients switch on these, not on titles.
const (
	TypeInvalidRequest   = "urn:fanout:problem:invalid-request"
	TypeNotFound         = "urn:fanout:problem:not-found"
	TypeMethodNotAllowed = "urn:fanout:problem:method-not-allowed"
	TypeBadGateway       = "urn:fanout:problem:bad-gateway"
	TypeGatewayTimeout   = "urn:fanout:problem:gateway-timeout"
	TypeUnavailable      = "urn:fanout:problem:unavailable"
	TypeNotReady         = "urn:fanout:problem:not-ready"
	TypeInternal         = "urn:fanout:problem:internal"
	// TypeConflict: the backend refused a create as conflicting with an
	// existing resource (409).
	TypeConflict = "urn:fanout:problem:conflict"
	// TypeUnprocessable: the backend refused a well-formed create on its
	// own rules (422).
	TypeUnprocessable = "urn:fanout:problem:unprocessable"
)

// Types of problem with a request the server refuses before any operation
// handles it.
const (
	TypeTooLarge             = "urn:fanout:problem:too-large"       // body (413) or headers (431) over the limits
	TypeRequestTimeout       = "urn:fanout:problem:request-timeout" // not received in time (408)
	TypeUnsupportedMediaType = "urn:fanout:problem:unsupported-media-type"
	TypeTooManyConnections   = "urn:fanout:problem:too-many-connections"  // from one address (429)
	TypeVersionNotSupported  = "urn:fanout:problem:version-not-supported" // not HTTP/1.x (505)
	TypeTooManyBodyBytes     = "urn:fanout:problem:too-many-body-bytes"   // body budget spent (503, or 429 for one address)
	// TypeOverloaded: the gateway is at its adaptive limit of requests in
	// progress and shed this one (503 with Retry-After).
	TypeOverloaded = "urn:fanout:problem:overloaded"
)

// Types of problem with a client's credentials, limits and retries.
const (
	TypeUnauthorized = "urn:fanout:problem:unauthorized" // no or unknown bearer token (401)
	TypeForbidden    = "urn:fanout:problem:forbidden"    // a read token on a write (403)
	TypeRateLimited  = "urn:fanout:problem:rate-limited" // the token's limit is spent (429)
	// TypeStoreUnavailable: the store of rate limits and idempotency
	// records cannot be reached (503); the request was not performed.
	TypeStoreUnavailable = "urn:fanout:problem:store-unavailable"
	// TypeIdempotencyMismatch: an Idempotency-Key reused with another
	// body (422).
	TypeIdempotencyMismatch = "urn:fanout:problem:idempotency-key-reused"
	// TypeIdempotencyInProgress: a request with the same Idempotency-Key
	// is still running (409).
	TypeIdempotencyInProgress = "urn:fanout:problem:idempotency-in-progress"
	// TypeIdempotencyQuota: the token holds its quota of idempotency
	// records (429).
	TypeIdempotencyQuota = "urn:fanout:problem:idempotency-quota"
)

// InvalidParam names one invalid part of a request and says why.
type InvalidParam struct {
	Name   string `json:"name"`
	In     string `json:"in"` // path, query, header or body
	Reason string `json:"reason"`
}

// Problem is one problem detail. Status is also the HTTP status.
type Problem struct {
	Type     string `json:"type"`
	Title    string `json:"title"`
	Status   int    `json:"status"`
	Detail   string `json:"detail,omitempty"`
	Instance string `json:"instance,omitempty"`
	Call     string `json:"call,omitempty"`
	// Kind is the stable class of the failed call, when one failed:
	// unreachable, timeout, unavailable, bad_status, malformed, too_large.
	Kind          string         `json:"kind,omitempty"`
	InvalidParams []InvalidParam `json:"invalid_params,omitempty"`
	// Unreachable lists the backends that cannot be reached (readiness).
	Unreachable []string `json:"unreachable,omitempty"`
}

// New returns a Problem of the given type and status, titled with the
// status text.
func New(typ string, status int, detail string) Problem {
	return Problem{Type: typ, Title: fasthttp.StatusMessage(status), Status: status, Detail: detail}
}

// Write sends p as the response: status, Content-Type and body. The
// instance is the request path unless p sets one.
func Write(ctx *fasthttp.RequestCtx, p Problem) {
	if p.Instance == "" {
		p.Instance = string(ctx.Path())
	}
	Send(ctx, p)
}

// Send sends p as the response as Write does, with p's own instance, or
// none: for a request whose path was not parsed, where ctx.Path() says
// "/" whatever the client sent.
func Send(ctx *fasthttp.RequestCtx, p Problem) {
	if p.Title == "" {
		p.Title = fasthttp.StatusMessage(p.Status)
	}
	b, err := json.Marshal(p)
	if err != nil {
		// A Problem holds only strings and ints; Marshal cannot fail.
		b = []byte(`{"type":"` + TypeInternal + `","title":"Internal Server Error","status":500}`)
		p.Status = fasthttp.StatusInternalServerError
	}
	ctx.Response.ResetBody()
	ctx.SetStatusCode(p.Status)
	ctx.SetContentType(ContentType)
	ctx.SetBody(b)
}
