package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Wrk runs wrk (in its own process group) with --latency, with a Lua
// request() function for the mix, whose paths vary, and a Lua delay()
// function for a paced scenario.
type Wrk struct {
	Bin    string
	Procs  *Procs
	Script string // path of the mix script, written by newWrk
	Paced  string // path of the pacing script, written by newWrk
}

var _ Loader = (*Wrk)(nil)

// wrkMixLua is mixPath in Lua: each thread gets an id in setup, the run's
// nonce comes as the script's first argument.
var wrkMixLua = `local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
function init(args)
  nonce = args[1] or "0"
  n = 0
end
function request()
  n = n + 1
  local path
  if n % 10 == 0 then
    path = "/mix/miss-" .. nonce .. "-" .. tid .. "-" .. n
  else
    path = "/mix/" .. (n % ` + strconv.Itoa(mixHotKeys) + `)
  end
  return wrk.format(nil, path)
end
`

// wrkPacedLua makes each connection wait the script's first argument, in
// milliseconds, after a response before its next request. wrk starts a
// request's latency clock when it sends it, after the wait.
var wrkPacedLua = `function init(args)
  pause = tonumber(args[1]) or 0
end
function delay()
  return pause
end
`

// newWrk writes the scripts into dir.
func newWrk(bin string, procs *Procs, dir string) (*Wrk, error) {
	script, err := writeFile(dir, "mix.lua", wrkMixLua)
	if err != nil {
		return nil, err
	}
	paced, err := writeFile(dir, "paced.lua", wrkPacedLua)
	if err != nil {
		return nil, err
	}
	return &Wrk{Bin: bin, Procs: procs, Script: script, Paced: paced}, nil
}

func (*Wrk) Name() string { return "wrk" }

func (w *Wrk) Run(ctx context.Context, spec LoadSpec) (LoadResult, error) {
	secs := max(1, int(spec.Duration.Round(time.Second)/time.Second))
	argv := []string{w.Bin, "-t", strconv.Itoa(spec.Threads), "-c", strconv.Itoa(spec.Conns),
		"-d", strconv.Itoa(secs) + "s", "--latency", "--timeout", "10s"}
	switch {
	case spec.Mix && spec.Pause > 0:
		return LoadResult{}, errors.New("wrk: a paced mix is not supported")
	case spec.Pause%time.Millisecond != 0:
		return LoadResult{}, fmt.Errorf("wrk: pause %v is not whole milliseconds (wrk's delay() counts them)", spec.Pause)
	case spec.Mix:
		argv = append(argv, "-s", w.Script, spec.BaseURL+"/", "--", spec.Nonce)
	case spec.Pause > 0:
		argv = append(argv, "-s", w.Paced, spec.BaseURL+spec.Path, "--", strconv.FormatInt(spec.Pause.Milliseconds(), 10))
	default:
		argv = append(argv, spec.BaseURL+spec.Path)
	}
	var out bytes.Buffer
	p, err := w.Procs.Start(ProcSpec{Name: "wrk", Argv: argv, Stdout: &out})
	if err != nil {
		return LoadResult{}, err
	}
	defer w.Procs.Stop(p, time.Second)
	select {
	case <-p.Done():
	case <-ctx.Done():
		return LoadResult{}, fmt.Errorf("wrk: %w", ctx.Err())
	}
	if err := p.Err(); err != nil {
		return LoadResult{}, fmt.Errorf("wrk: %w; output: %s", err, p.Output())
	}
	res, err := parseWrk(out.String())
	if err != nil {
		return LoadResult{}, fmt.Errorf("wrk: %w; output: %s", err, out.String())
	}
	return res, nil
}

var (
	wrkTotalRE  = regexp.MustCompile(`^\s*(\d+) requests in ([\d.]+)(us|ms|s|m),`)
	wrkPctRE    = regexp.MustCompile(`^\s*(50|99)%\s+([\d.]+)(us|ms|s|m)\s*$`)
	wrkSockRE   = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	wrkNon2xxRE = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
)

// parseWrk reads wrk's summary: the request count and run time, the 50%
// and 99% lines of --latency, socket errors and non-2xx/3xx responses
// (which wrk counts among its requests; they are moved to Errors).
func parseWrk(out string) (LoadResult, error) {
	var r LoadResult
	var seen int
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if m := wrkTotalRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.Requests, r.Elapsed = n, wrkDuration(m[2], m[3])
			seen |= 1
		} else if m := wrkPctRE.FindStringSubmatch(line); m != nil {
			d := wrkDuration(m[2], m[3])
			if m[1] == "50" {
				r.P50, seen = d, seen|2
			} else {
				r.P99, seen = d, seen|4
			}
		} else if m := wrkSockRE.FindStringSubmatch(line); m != nil {
			for _, s := range m[1:] {
				n, _ := strconv.ParseInt(s, 10, 64)
				r.Errors += n
			}
		} else if m := wrkNon2xxRE.FindStringSubmatch(line); m != nil {
			n, _ := strconv.ParseInt(m[1], 10, 64)
			r.Errors += n
			r.Requests -= n
		}
	}
	if seen != 7 {
		return LoadResult{}, fmt.Errorf("parse wrk output: missing request count or latency percentiles")
	}
	return r, nil
}

// wrkDuration converts wrk's "530.00us" style figures.
func wrkDuration(num, unit string) time.Duration {
	f, _ := strconv.ParseFloat(num, 64)
	switch unit {
	case "us":
		return time.Duration(f * float64(time.Microsecond))
	case "ms":
		return time.Duration(f * float64(time.Millisecond))
	case "m":
		return time.Duration(f * float64(time.Minute))
	}
	return time.Duration(f * float64(time.Second))
}
