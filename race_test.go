//go:build race

package main

// raceEnabled: under the race detector sync.Pool drops a random quarter of
// what is put back, so allocation counts are not meaningful.
const raceEnabled = true
