package preflight

// ParseWinrsListing exposes the winrm get parser to tests.
var ParseWinrsListing = parseWinrsListing
