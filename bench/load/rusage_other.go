//go:build !unix

package load

import "time"

// processCPU returns -1: this system offers no getrusage.
func processCPU() time.Duration { return -1 }
