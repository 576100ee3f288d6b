package runner

// NewFetchSink exposes the fetch sink to the package's external tests.
var NewFetchSink = newFetchSink
