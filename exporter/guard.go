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
//   - a Host the listener is not known by is refused: an IP address, a
//     name without a dot (localhost, a compose service such as
//     "exporter"), or one of http.internal_hosts. A rebinding page comes
//     with a name of the attacker's domain.

// internalGuard wraps the internal listener's handler.
func internalGuard(h http.Handler, hosts []string) http.Handler {
	h = http.NewCrossOriginProtection().Handler(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !knownHost(r.Host, hosts) {
			http.Error(w, "this listener is not known by the name "+r.Host+
				" (a browser page may be rebinding a name of its own to it); add the name to http.internal_hosts if it is yours",
				http.StatusMisdirectedRequest)
			return
		}
		h.ServeHTTP(w, r)
	})
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
