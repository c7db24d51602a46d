package assembly

import (
	"io"

	"fanout/gateway/internal/config"
)

// CheckFlags reports whether the gateway would accept args as its command
// line: the flags of its configuration, parsed and validated as at
// start-up (a -config file named in them is read too). It returns the
// gateway's own complaint, or nil. The bench checks the gateway flags of
// its scenarios with it before it starts anything, so that a scenario
// cannot carry a copy of the gateway's flags, modes or defaults.
func CheckFlags(args []string) error {
	_, err := config.Parse(args, io.Discard)
	return err
}
