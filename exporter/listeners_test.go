package exporter_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// status sends method url with the headers and returns the status code.
func status(t *testing.T, method, url string, header map[string]string) int {
	t.Helper()
	return request(t, method, url, "", header)
}

// operatorPaths are what shows data or changes the exporter: never on the
// stream listener for a stranger.
var operatorPaths = []struct{ method, path string }{
	{"GET", "/"}, {"GET", "/api/status"}, {"GET", "/metrics"}, {"GET", "/-/ready"}, {"POST", "/-/reload"},
}

// TestStreamListenerShowsNothing: with an internal listener (the default),
// the stream listener answers 404 to every operator path, with or without
// the token, and acknowledges batches; the internal listener serves them,
// /metrics gzip-compressed when asked, as Prometheus does.
func TestStreamListenerShowsNothing(t *testing.T) {
	ex := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, nil)
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), auth); code != 200 {
		t.Fatalf("a batch with the token: %d %s", code, answer)
	}
	for _, p := range operatorPaths {
		for _, h := range []map[string]string{nil, auth} {
			if code := status(t, p.method, ex.URL+p.path, h); code != http.StatusNotFound {
				t.Errorf("%s %s on the stream listener (token %v): %d, want 404", p.method, p.path, h != nil, code)
			}
		}
	}
	if body := testexporter.Get(t, ex.InternalURL+"/metrics"); !strings.Contains(body, `flespi_position_speed_meters_per_second{device_name="truck-07",ident="352093081234567"} 17.5`) {
		t.Errorf("the internal listener's /metrics lacks the gauges:\n%s", body)
	}
	for _, path := range []string{"/", "/api/status", "/-/ready", "/-/healthy"} {
		if code := status(t, "GET", ex.InternalURL+path, nil); code != 200 {
			t.Errorf("GET %s on the internal listener: %d", path, code)
		}
	}
	req, _ := http.NewRequest("GET", ex.InternalURL+"/metrics", nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Content-Encoding") != "gzip" {
		t.Errorf("scrape asking for gzip got Content-Encoding %q", resp.Header.Get("Content-Encoding"))
	}
}

// TestOneListenerIsGuarded: with http.internal_listen = "", the operator's
// read surfaces are on the stream listener behind its tokens and
// allow-list, and /-/reload is not served there at all.
func TestOneListenerIsGuarded(t *testing.T) {
	ex := testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, func(c *config.Loaded) { c.HTTP.InternalListen = "" })
	auth := map[string]string{"Authorization": "Bearer s3cret"}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), auth); code != 200 {
		t.Fatalf("a batch with the token: %d %s", code, answer)
	}
	for _, p := range operatorPaths {
		want, wantAuthed := http.StatusUnauthorized, http.StatusOK
		if p.path == "/-/reload" {
			want, wantAuthed = http.StatusNotFound, http.StatusNotFound
		}
		if code := status(t, p.method, ex.URL+p.path, nil); code != want {
			t.Errorf("%s %s without the token: %d, want %d", p.method, p.path, code, want)
		}
		if code := status(t, p.method, ex.URL+p.path, auth); code != wantAuthed {
			t.Errorf("%s %s with the token: %d, want %d", p.method, p.path, code, wantAuthed)
		}
	}
	// Outside the allow-list the token is not enough.
	ex = testexporter.StartWith(t, "", map[string]string{"FLESPI_EXPORTER_TOKEN": "s3cret"}, func(c *config.Loaded) { c.HTTP.InternalListen = ""; c.HTTP.AllowCIDRs = []string{"185.213.2.0/24"} })
	for _, path := range []string{"/", "/api/status", "/metrics", "/-/ready"} {
		if code := status(t, "GET", ex.URL+path, auth); code != http.StatusForbidden {
			t.Errorf("GET %s from outside http.allow_cidrs: %d, want 403", path, code)
		}
	}
}
