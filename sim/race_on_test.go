//go:build race

package sim

// raceOn: the race detector slows the XML decoding of large Sends about
// fifteen-fold, so the heaviest transfer tests use fewer hosts under it.
const raceOn = true
