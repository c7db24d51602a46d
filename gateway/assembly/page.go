package assembly

import "fanout/gateway/internal/compose"

// PageInput holds the bodies of the results page's calls, as
// ComposeResultsPage reads them: nil for a call that failed, and the
// optional parts that failed listed under Missing.
type PageInput = compose.Input

// PageMissing names an optional part that a results page lacks, and why.
type PageMissing = compose.Missing

// ComposeResultsPage appends to dst the results page that the gateway
// composes from in, with the same code. The bench's CPU floor (a bare
// fan-out of the same calls, see bench/floor) composes its pages with it,
// so that what the floor leaves out is only what a gateway adds around
// the fan-out and the composition: validation, authentication, policies,
// metrics and headers.
func ComposeResultsPage(dst []byte, in *PageInput) ([]byte, error) {
	return compose.ResultsPage(dst, in)
}
