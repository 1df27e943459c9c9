// Package host is what the benchmark programs share about the machine
// they run on and how they run on it: its description for the heading of
// a report (CPU, memory, OS, kernel, Go toolchain, the versions of the
// programs measured and the load average, since other work on a shared
// machine makes every figure noisier), the packages and PostgreSQL
// binaries it has, nginx's tuning, the write load on PostgreSQL, the
// report's statistics and files, and a program's exit.
package host

import (
	"bufio"
	"bytes"
	"os"
	"runtime"
	"strconv"
	"strings"
)

// Machine describes where the benchmark ran.
type Machine struct {
	Nproc    int               `json:"nproc"`
	CPU      string            `json:"cpu"`       // model name from /proc/cpuinfo
	Kernel   string            `json:"kernel"`    // /proc/sys/kernel/osrelease
	OS       string            `json:"os"`        // PRETTY_NAME from /etc/os-release
	MemTotal string            `json:"mem_total"` // from /proc/meminfo
	Go       string            `json:"go"`        // the toolchain that built tandem and the harness
	Versions map[string]string `json:"versions"`  // peer (and load generator) → version
	// LoadAvg is /proc/loadavg at the start and the end of the run: other
	// work on the machine makes every figure noisier.
	LoadAvg [2]string `json:"loadavg"`
}

// Describe reads the machine's description; Versions starts empty and
// LoadAvg[1] unset, for the caller to fill in.
func Describe() Machine {
	return Machine{
		Nproc:    runtime.NumCPU(),
		CPU:      fieldOf("/proc/cpuinfo", "model name", ':'),
		Kernel:   strings.TrimSpace(readString("/proc/sys/kernel/osrelease")),
		OS:       strings.Trim(fieldOf("/etc/os-release", "PRETTY_NAME", '='), `"`),
		MemTotal: memTotal(),
		Go:       runtime.Version(),
		Versions: map[string]string{},
		LoadAvg:  [2]string{LoadAvg()},
	}
}

// String is a one-line description for the table's heading.
func (m Machine) String() string {
	return strings.Join([]string{m.CPU, strconv.Itoa(m.Nproc) + " CPUs", m.MemTotal, m.OS, "Linux " + m.Kernel, m.Go}, ", ")
}

// memTotal is MemTotal from /proc/meminfo in GiB.
func memTotal() string {
	f := strings.Fields(fieldOf("/proc/meminfo", "MemTotal", ':'))
	if len(f) != 2 || f[1] != "kB" {
		return "unknown"
	}
	kb, err := strconv.ParseFloat(f[0], 64)
	if err != nil {
		return "unknown"
	}
	return strconv.FormatFloat(kb/(1<<20), 'f', 1, 64) + " GiB RAM"
}

// LoadAvg is the 1, 5 and 15 minute load averages, from /proc/loadavg.
func LoadAvg() string {
	f := strings.Fields(readString("/proc/loadavg"))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

func readString(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	return string(b)
}

// fieldOf returns the value of the first "key<sep>value" line in a file.
func fieldOf(path, key string, sep byte) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), string(sep))
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}
