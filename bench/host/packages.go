package host

import (
	"fmt"
	"strings"
)

// MissingPackagesError lists the Debian packages a run needs and this
// machine lacks. The benchmarks never install anything themselves: they
// print the line that does and exit 2.
type MissingPackagesError struct {
	Packages []string
}

func (e *MissingPackagesError) Error() string {
	return fmt.Sprintf("missing Debian packages: %s; install them with:\n\n    apt-get install -y %s\n",
		strings.Join(e.Packages, " "), strings.Join(e.Packages, " "))
}
