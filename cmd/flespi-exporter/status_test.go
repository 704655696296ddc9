package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestStatusCommand: `flespi-exporter status` prints the state and what
// needs attention, and exits 3 when data is not being stored (InfluxDB
// refusing the token), 0 otherwise (a parameter without a rule is a
// warning).
func TestStatusCommand(t *testing.T) {
	db := fakeinflux.Start(t)
	ex := testexporter.StartInProcess(t, testexporter.Options{InfluxURL: db.URL})
	ex.PostSamples(t)
	var out, errs bytes.Buffer
	if code := statusCmd(ex.InternalURL, &out, &errs); code != 0 || !strings.Contains(out.String(), "devices: ") ||
		!strings.Contains(out.String(), "[warn] 1 parameter has no rule") ||
		!strings.Contains(out.String(), "3 devices are silent past their own silence: scooterMobi010 (015136001986400)") {
		t.Errorf("exit %d:\n%s%s", code, out.String(), errs.String())
	}
	db.ThenCheck(fakeinflux.Answer{Status: 401, Body: `{"error":"unauthorized"}`})
	if resp, err := http.Get(ex.InternalURL + "/-/ready"); err == nil { // the check that meets the refusal
		resp.Body.Close()
	}
	out.Reset()
	if code := statusCmd(ex.InternalURL, &out, &errs); code != 3 || !strings.Contains(out.String(), "check INFLUXDB_TOKEN") {
		t.Errorf("with the token refused: exit %d:\n%s%s", code, out.String(), errs.String())
	}
}
