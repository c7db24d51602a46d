//go:build !linux

package launch

import (
	"os"
	"os/exec"
)

func setParentDeathSignal(*exec.Cmd) {}

func exitedMaxRSS(*os.ProcessState) int64 { return 0 }
