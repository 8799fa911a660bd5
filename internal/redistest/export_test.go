package redistest

// WithDB exposes withDB to the external tests.
var WithDB = withDB
