// Package e2e holds the process-level tests: the real binary and real
// services (InfluxDB 1.8, Prometheus and promtool, Chromium, mosquitto).
// They build with the tag e2e and fail, never skip, when a tool is
// missing: scripts/test.sh installs them and runs this tier after the unit
// tests.
package e2e
