package fanout

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Modes of execution, as accepted by New.
const (
	ModeSequential = "sequential"
	ModeStaged     = "staged"
	ModeConcurrent = "concurrent"
	ModePool       = "pool"
	ModeBlocking   = "blocking"
)

// modes are the Executors New makes, by mode, from the slowest idea to the
// pitfall: the one list of modes, which Modes, New, the gateway's flags and
// config, and the bench read. A mode is its own small file and a line here.
var modes = []struct {
	name string
	new  func(Options) Executor
}{
	{ModeSequential, func(o Options) Executor { return sequential{runAll: o.RunAll} }},
	{ModeStaged, func(o Options) Executor { return staged{runAll: o.RunAll} }},
	{ModeConcurrent, func(o Options) Executor { return &graph{mode: ModeConcurrent, runAll: o.RunAll} }},
	{ModePool, newPool},
	{ModeBlocking, func(o Options) Executor { return &graph{mode: ModeBlocking, gate: new(lock), runAll: o.RunAll} }},
}

// Modes lists every mode New accepts, from the slowest idea to the pitfall.
var Modes = func() []string {
	names := make([]string, len(modes))
	for i, m := range modes {
		names[i] = m.name
	}
	return names
}()

// DefaultPoolSize is the number of slots of a pool Executor when
// Options.PoolSize is 0.
const DefaultPoolSize = 16

var (
	// ErrDependency marks the Outcome of a call that was not sent because a call
	// it references failed, answered with a non-2xx status, or lacked a
	// referenced field. The error is a *DependencyError wrapping the cause.
	ErrDependency = errors.New("dependency failed")
	// ErrField marks a referenced field that could not be taken from a
	// dependency's JSON body (missing, not a string or number, or the body is
	// not a JSON object), or that may not fill the path: it breaks the
	// reference's FieldRule, or is an empty, "." or ".." path segment.
	ErrField = errors.New("field not extracted")
	// ErrParam marks a call that was not sent because a request parameter its
	// template references was absent from Params, or would be a dot segment
	// ("", "." or "..") of the path.
	ErrParam = errors.New("request parameter missing or unusable")
	// ErrPanic marks a call whose Doer panicked; the panic is recovered so it
	// cannot take the process down.
	ErrPanic = errors.New("doer panicked")
	// ErrClosed marks a call that was not sent because its pool Executor was closed.
	ErrClosed = errors.New("executor closed")
	// ErrAborted marks the Outcome of a call that was cancelled, or never
	// sent, because a required call of the same Execute failed. The error is
	// an *AbortError naming that call.
	ErrAborted = errors.New("aborted")
	// ErrRefused marks the Outcome of a call whose answer the Params'
	// Checker refused: the error is the Checker's, wrapped.
	ErrRefused = errors.New("answer refused")
)

// Checker is an optional interface of the Params given to Execute: the
// caller's check of each 2xx answer, run as the answer arrives, before any
// call that depends on it starts. A non-nil error refuses the answer: the
// call's Outcome.Err wraps ErrRefused and the error, its body is dropped,
// its dependents are not sent, and the run ends as for a failed required
// call (the calls in flight are cancelled, none is sent afterwards), even
// if the call is optional, unless Options.RunAll. It serves checks that
// only the caller can make, such as whether the answer is one its client
// may see. Check must be safe for concurrent use by the calls of one
// Execute and must not keep body.
type Checker interface {
	Check(c *Call, status int, body []byte) error
}

// AbortError is the Outcome.Err of a call cut short because a required call
// (not CallSpec.Optional) of the same Execute did not deliver: it failed, or
// answered with a non-2xx status, or could not be sent. The request has
// failed then, so the Executor cancels the calls in flight and sends no
// more. errors.Is(err, ErrAborted) is true, and so is
// errors.Is(err, context.Canceled).
type AbortError struct {
	Call string // the required call whose failure aborted the run, e.g. "results"
	Err  error  // context.Canceled, or the Doer's error that reported it
}

// Error says which call's failure cancelled this one.
func (e *AbortError) Error() string {
	return fmt.Sprintf("cancelled because required call %q failed: %v", e.Call, e.Err)
}

// Is reports ErrAborted, so callers need not know the type.
func (e *AbortError) Is(target error) bool { return target == ErrAborted }

// Unwrap returns the cause, context.Canceled or what wraps it.
func (e *AbortError) Unwrap() error { return e.Err }

// DependencyError is the Outcome.Err of a call that was not sent because its
// dependency Call did not deliver. errors.Is(err, ErrDependency) is true, and
// errors.Is also sees the cause (ErrField, context.DeadlineExceeded, ...).
type DependencyError struct {
	Call   string // the dependency that did not deliver, e.g. "experiment"
	Field  string // the field that could not be extracted or used; "" if the call itself failed
	Status int    // the dependency's status (non-2xx, or 0 if it got no response)
	Err    error  // the cause; nil if the dependency merely answered with a non-2xx status
}

// Error says which dependency failed and why.
func (e *DependencyError) Error() string {
	switch {
	case e.Field != "":
		return fmt.Sprintf("dependency %q: %v", e.Call, e.Err)
	case e.Err != nil:
		return fmt.Sprintf("dependency %q failed: %v", e.Call, e.Err)
	default:
		return fmt.Sprintf("dependency %q answered status %d", e.Call, e.Status)
	}
}

// Is reports ErrDependency, so callers need not know the type.
func (e *DependencyError) Is(target error) bool { return target == ErrDependency }

// Unwrap returns the cause.
func (e *DependencyError) Unwrap() error { return e.Err }

// Params gives the values of an operation's request parameters. The gateway
// adapts its request to it; ParamMap serves tests and simple callers.
// Implementations must be safe for concurrent use by the calls of one Execute.
type Params interface {
	Param(name string) (string, bool)
}

// ParamMap is a Params backed by a map.
type ParamMap map[string]string

// Param returns the named value and whether it is present.
func (m ParamMap) Param(name string) (string, bool) {
	v, ok := m[name]
	return v, ok
}

// Doer performs one backend call: method and path (already expanded and
// escaped) against the named backend. A non-2xx status is not an error; err is
// for transport failures and the context's end. Implementations must be safe
// for concurrent use. The returned body must stay valid until the Result is
// released; the engine never keeps it after Release.
//
// A Doer may also implement the optional interface{ Interrupt() }: when a
// required call fails and the engine cancels the contexts of the calls in
// flight, it then calls Interrupt, for a Doer that does not watch each
// call's context (which costs every call) to cut at once the calls whose
// contexts are done. Interrupt must leave the other calls alone and be safe
// for concurrent use with Do.
type Doer interface {
	Do(ctx context.Context, backend, method, path string) (status int, body []byte, err error)
}

// DoerFunc adapts a function to a Doer.
type DoerFunc func(ctx context.Context, backend, method, path string) (int, []byte, error)

// Do calls f.
func (f DoerFunc) Do(ctx context.Context, backend, method, path string) (int, []byte, error) {
	return f(ctx, backend, method, path)
}

// Outcome is what became of one call of a Plan.
type Outcome struct {
	Status int    // backend status, 0 if no response
	Body   []byte // backend body as the Doer returned it; valid until Release
	// Err is a transport error or the context's error from the Doer, the
	// context's error if the call was not started before ctx was done,
	// a *DependencyError (ErrDependency) if a dependency did not deliver,
	// an *AbortError (ErrAborted) if a required call's failure cancelled
	// it or kept it from being sent, or ErrParam. It is nil for any
	// answered call, whatever its status.
	Err error
	// Start is the offset from the start of Execute at which the Doer was
	// entered (the call was ready Wait earlier); for a call that was not sent,
	// the offset at which that was decided.
	Start time.Duration
	// Duration is the time spent in the Doer; 0 if the call was not sent. For
	// pool and blocking it excludes waiting.
	Duration time.Duration
	// Wait is the time spent waiting for a pool slot or the blocking lock.
	Wait time.Duration
	// Sent is true if the Doer was called.
	Sent bool
	// Via says how the answer came: the call's own attempt, or a policy
	// (a hedged duplicate, a shared call, the cache).
	Via Via
	// Reasked is true when the call's first answer was for another
	// resource than the one asked for (a stray answer, see Disowner), so
	// that the call asked again; the Outcome is the second answer's.
	Reasked bool
}

// OK reports whether the call was answered with a 2xx status.
func (o *Outcome) OK() bool { return o.Err == nil && o.Status >= 200 && o.Status < 300 }

// Executor runs Plans with one strategy. Implementations are safe for
// concurrent use; Execute joins every goroutine it started before it returns,
// so nothing touches params, d or the bodies afterwards.
type Executor interface {
	// Mode returns the strategy's name, one of Modes.
	Mode() string
	// Execute runs the calls of p and returns one Outcome per call, indexed
	// by Call.Index. Calls not started before ctx is done get ctx.Err().
	// Unless Options.RunAll is set, the first required call that does not
	// deliver ends the run: the calls in flight, but the primary
	// (CallSpec.Primary), see their context cancelled, and those cancelled
	// or not yet sent get an *AbortError. If params is a Checker, each
	// 2xx answer is checked as it arrives, and a refusal ends the run so.
	Execute(ctx context.Context, p *Plan, params Params, d Doer) *Result
}

// Options configure an Executor. The zero value works.
type Options struct {
	// PoolSize is the number of slots of the pool mode; 0 means
	// DefaultPoolSize. Other modes ignore it.
	PoolSize int
	// RunAll keeps every call going after a required call failed, for a
	// caller that wants every Outcome. By default (false) such a failure
	// decides the request, so the Executor cancels the calls in flight and
	// sends no more: nobody waits for their answers.
	RunAll bool
}

// newPool is the pool Executor of opts.PoolSize slots, DefaultPoolSize if 0.
func newPool(opts Options) Executor {
	n := opts.PoolSize
	if n == 0 {
		n = DefaultPoolSize
	}
	s := newSlots(n)
	return &pool{graph: graph{mode: ModePool, gate: s, runAll: opts.RunAll}, slots: s}
}

// New returns the Executor of the named mode. A pool Executor implements
// io.Closer to refuse further calls (a process-wide Executor never needs to).
func New(mode string, opts Options) (Executor, error) {
	if opts.PoolSize < 0 {
		return nil, fmt.Errorf("new executor %s: pool size %d is negative", mode, opts.PoolSize)
	}
	for _, m := range modes {
		if m.name == mode {
			return m.new(opts), nil
		}
	}
	return nil, fmt.Errorf("new executor: unknown mode %q (want one of %s)", mode, strings.Join(Modes, ", "))
}
