package stream_test

import (
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// The short names of this package's tests for testkit/testexporter's helpers.
var (
	startExporter = testexporter.StartWith
	post          = testexporter.Post
	get           = testexporter.Get
	samples       = testexporter.Samples
)
