package supervise

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Describe says in a few words how a process ended: "exit code 2",
// "killed by SIGKILL", "killed: out of memory"; "" for a nil Exit.
func (e *Exit) Describe() string {
	switch {
	case e == nil:
		return ""
	case e.OOMKilled:
		return "killed: out of memory"
	case e.Err != "":
		return e.Err
	case e.Signal != 0:
		return "killed by " + unix.SignalName(e.Signal)
	default:
		return "exit code " + strconv.Itoa(e.Code)
	}
}
