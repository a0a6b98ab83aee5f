//go:build race

package main

// raceDetector is whether this test binary was built with the race detector.
const raceDetector = true
