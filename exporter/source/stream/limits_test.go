package stream_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestHostileNames: distinct 10 KB parameter names under a glob the rules
// map (**.status) make no series: /metrics stays small and every value is
// counted as name_too_long.
func TestHostileNames(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	var body strings.Builder
	body.WriteString("[")
	for i := range 200 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"ident":"a","timestamp":1717171200,"%s%d.status":true}`, strings.Repeat("k", 10_000), i)
	}
	body.WriteString("]")
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(body.String()), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	metrics := testexporter.Get(t, ex.InternalURL+"/metrics")
	if len(metrics) > 200_000 || strings.Contains(metrics, "kkkkkkkk") {
		t.Errorf("/metrics is %d bytes after 200 names of 10 KB", len(metrics))
	}
	if got := ex.MetricValue(t, "flespi_exporter_values_skipped_total", "reason", "name_too_long"); got != 200 {
		t.Errorf("name_too_long = %v, want 200", got)
	}
}
