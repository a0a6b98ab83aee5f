//go:build race

package engine_test

// raceDetector is whether this test binary was built with the race detector.
const raceDetector = true
