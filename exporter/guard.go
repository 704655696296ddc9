package exporter

import (
	"net"
	"net/http"
	"slices"
	"strings"
)

// The internal listener is the operator's, on loopback or a private
// network, and it changes things (POST /-/reload, /api/devices/forget).
// Being out of the internet's reach is not enough against the operator's
// own browser: a page they open could post a form to it (a stolen
// tracker's device forgotten, so it stops alerting), or rename itself to
// its address (DNS rebinding) and read the status page. So:
//   - a state-changing request a browser makes from another site is
//     refused (net/http's CrossOriginProtection: Sec-Fetch-Site, Origin);
//     curl, Prometheus and the status page's own requests pass;
//   - a browser's request under a Host the listener is not known by is
//     refused: known are an IP address, a name without a dot (localhost,
//     a compose service such as "exporter") and http.internal_hosts. A
//     rebinding page comes with a name of the attacker's domain, from a
//     browser; Prometheus, curl and health checks, which are not browsers,
//     may use any name (a Kubernetes service's, say).

// internalGuard wraps the internal listener's handler.
func internalGuard(h http.Handler, hosts []string) http.Handler {
	h = http.NewCrossOriginProtection().Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fromBrowser(r) && !knownHost(r.Host, hosts) {
			http.Error(w, "this listener is not known by the name "+r.Host+
				" (a browser page may be rebinding a name of its own to it); add the name to http.internal_hosts if it is yours",
				http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// fromBrowser reports whether a request comes from a web browser: only
// those run pages that could rebind a name. Browsers send Sec-Fetch-*
// (all since 2023) and a User-Agent naming Mozilla (all).
func fromBrowser(r *http.Request) bool {
	return r.Header.Get("Sec-Fetch-Mode") != "" || r.Header.Get("Sec-Fetch-Site") != "" ||
		strings.Contains(r.Header.Get("User-Agent"), "Mozilla/")
}

// knownHost reports whether a request's Host names the internal listener.
func knownHost(hostport string, hosts []string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.Trim(host, "[]"), ".")
	switch {
	case host == "":
		return true // HTTP/1.0 without Host: no browser sends that
	case net.ParseIP(host) != nil, !strings.Contains(host, "."):
		return true
	}
	return slices.ContainsFunc(hosts, func(h string) bool { return strings.EqualFold(h, host) })
}
