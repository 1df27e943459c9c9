//go:build race

package main

// raceDetector is set when the tests run under -race, which slows the
// nodes several times: timing targets are checked without it; with it
// they are reported, and only a figure far beyond them fails.
const raceDetector = true
