package runner

// NewFetchSink exposes the fetch sink to the package's external tests.
var NewFetchSink = newFetchSink

// RetryCodes exposes the codes a step run retries to the external tests.
var RetryCodes = retryCodes

// SetWorkerExited sets the hook run as a worker exits (nil removes it);
// only tests that run alone may set it.
func SetWorkerExited(f func()) { workerExited = f }
