package launch

import (
	"os"
	"os/exec"
	"syscall"
)

// setParentDeathSignal asks the kernel to stop the child if this process dies
// without stopping it, so an interrupted benchmark leaves no servers behind.
func setParentDeathSignal(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}

// exitedMaxRSS returns ru_maxrss of an exited process in bytes (Linux reports
// kilobytes).
func exitedMaxRSS(st *os.ProcessState) int64 {
	if ru, ok := st.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss << 10
	}
	return 0
}
