//go:build race

package pgha

// raceDetector is set when the tests run under -race, which slows tandem
// several times: timing targets are checked without it and reported with it.
const raceDetector = true
