//go:build race

package main

// raceDetector is set under -race. The smoke test then skips: it checks
// the benchmark's plumbing, which the race detector's cost to the test
// suite does not buy anything for (the suite runs it without -race too).
const raceDetector = true
