package exporter_test

import (
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/exporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// request sends method url with Host host (the listener's address when
// "") and headers, and returns the status code.
func request(t *testing.T, method, url, host string, header map[string]string) int {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if host != "" {
		req.Host = host
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestInternalListenerTrustsNoPage: a form another site's page posts to
// the internal listener (forget a stolen tracker, reload) is refused, and
// so is a request under a name of another domain (DNS rebinding); curl,
// Prometheus by IP or compose service name, localhost and the names in
// http.internal_hosts are served.
func TestInternalListenerTrustsNoPage(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.HTTP.InternalHosts = []string{"monitor.example.org"} })
	ex.PostSamples(t)
	forget := ex.InternalURL + "/api/devices/forget?ident=605630"
	crossSite := map[string]string{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site", "Content-Type": "application/x-www-form-urlencoded"}
	if code := request(t, "POST", forget, "", crossSite); code != http.StatusForbidden {
		t.Errorf("a cross-site form posted to forget a device: %d, want 403", code)
	}
	if code := request(t, "POST", ex.InternalURL+"/-/reload", "", map[string]string{"Origin": "http://evil.example"}); code != http.StatusForbidden {
		t.Errorf("a cross-site reload: %d, want 403", code)
	}
	browser := map[string]string{"Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "same-origin", "User-Agent": "Mozilla/5.0 (X11; Linux x86_64)"}
	for _, host := range []string{"evil.example", "evil.example:9884", "rebind.attacker.net."} {
		if code := request(t, "GET", ex.InternalURL+"/api/status", host, browser); code != http.StatusMisdirectedRequest {
			t.Errorf("a browser's GET of the status as %s: %d, want 421", host, code)
		}
	}
	if code := request(t, "GET", ex.InternalURL+"/api/status", "evil.example", map[string]string{"User-Agent": "Mozilla/4.0 (an old browser)"}); code != http.StatusMisdirectedRequest {
		t.Errorf("an old browser (no Sec-Fetch) as evil.example: %d, want 421", code)
	}
	// Not browsers: Prometheus scraping a Kubernetes service by its name.
	if code := request(t, "GET", ex.InternalURL+"/metrics", "flespi-exporter.monitoring.svc.cluster.local:9884",
		map[string]string{"User-Agent": "Prometheus/2.42.0"}); code != 200 {
		t.Errorf("Prometheus by a dotted service name: %d, want 200", code)
	}
	for _, host := range []string{"", "localhost:9884", "exporter:9884", "[::1]:9884", "monitor.example.org", "MONITOR.example.org:443"} {
		if code := request(t, "GET", ex.InternalURL+"/api/status", host, browser); code != 200 {
			t.Errorf("a browser's GET of the status as %q: %d, want 200", host, code)
		}
	}
	if code := request(t, "POST", forget, "", map[string]string{"Sec-Fetch-Site": "same-origin"}); code != 200 {
		t.Errorf("the status page's own forget: %d, want 200", code)
	}
}

// TestListenerInUse: a port taken already is said with the listener and
// the setting that names it.
func TestListenerInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := config.Default()
	for _, c := range []struct{ stream, internal, want string }{
		{taken.Addr().String(), "127.0.0.1:0", "the stream listener cannot listen on " + taken.Addr().String() + " (http.listen, FLESPI_EXPORTER_LISTEN)"},
		{"127.0.0.1:0", taken.Addr().String(), "the internal listener cannot listen on " + taken.Addr().String() + " (http.internal_listen, FLESPI_EXPORTER_INTERNAL_LISTEN)"},
	} {
		cfg.HTTP.Listen, cfg.HTTP.InternalListen = c.stream, c.internal
		loaded := &config.Loaded{Config: cfg}
		err := exporter.OpenListeners(loaded)
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("%v, want %q", err, c.want)
		}
	}
}
