package pipeline

// Compile makes a Mapping of [[rule]]s in TOML, for the external tests.
var Compile = compile
