#!/usr/bin/env bash
# Installs what the tests need beyond Go, and only what is missing, so a
# second run takes a second:
#   - promtool and prometheus (Debian package prometheus): `promtool check
#     metrics` on /metrics, rule tests, and a real Prometheus scraping the exporter.
#   - chromium (Debian package): the status page tested in a headless browser.
#   - mosquitto (Debian package): a real MQTT 5 broker for the MQTT source's
#     tests (persistence, password file, TLS listener).
#   - ejabberd (Debian package, its mod_mqtt): a second MQTT 5 broker that
#     keeps one message in flight; started by the tests without its service.
#   - victoria-metrics (Debian package, one binary): a second remote write
#     receiver beside Prometheus; started by the tests without its service.
#   - haproxy (Debian package): the load balancer in front of two exporters.
#   - influxd, InfluxDB OSS 1.8.10 built from source with go install (pure Go,
#     about 3 minutes the first time, cached after): the real database that the
#     receiver tests write to.
set -euo pipefail

need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v ejabberdctl >/dev/null 2>&1 || [ -x /usr/sbin/ejabberdctl ] || need+=(ejabberd)
command -v victoria-metrics >/dev/null 2>&1 || need+=(victoria-metrics)
command -v haproxy >/dev/null 2>&1 || [ -x /usr/sbin/haproxy ] || need+=(haproxy)

if [ ${#need[@]} -gt 0 ]; then
  sudo=""
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "install as root: apt-get install ${need[*]}" >&2; exit 1; }
    sudo=sudo
  fi
  echo "installing ${need[*]} (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
promtool --version | head -1
chromium --version
/usr/sbin/mosquitto -h 2>/dev/null | head -1 || true
dpkg-query -W -f='ejabberd ${Version}\n' ejabberd 2>/dev/null || true
dpkg-query -W -f='victoria-metrics ${Version}\n' victoria-metrics 2>/dev/null || true

influxd="$(go env GOPATH)/bin/influxd"
# `go version -m` reads the module version that go install recorded.
if ! go version -m "$influxd" 2>/dev/null | grep -q 'github.com/influxdata/influxdb[[:space:]]*v1.8.10'; then
  echo "building InfluxDB 1.8.10 (go install; a few minutes the first time)"
  # Outside this module, so that its dependencies stay out of our go.mod.
  (cd / && go install github.com/influxdata/influxdb/cmd/influxd@v1.8.10)
fi
echo "influxd: $influxd (InfluxDB 1.8.10)"
