package exporter_test

import (
	"fmt"
	"github.com/flespi-exporter/flespi-exporter/exporter/output/devices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/flespi-exporter/flespi-exporter/config"
	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestGaugesFromSamples posts the samples to a Prometheus-only exporter and
// compares the gauges: one series per mapped parameter per ident, labelled
// with ident (and device_name where the message has one), newest values.
func TestGaugesFromSamples(t *testing.T) {
	clock := tb.NewClock()
	clock.Add(2 * 365 * 24 * time.Hour) // 2026: after the newest sample (mapping.max_future)
	ex := startExporterAt(t, "", nil, nil, clock.Now)
	ex.PostSamples(t)
	want := `
# HELP flespi_ble_sensor_temperature_celsius BLE sensor temperature.
# TYPE flespi_ble_sensor_temperature_celsius gauge
flespi_ble_sensor_temperature_celsius{device_name="truck-07",ident="352093081234567",sensor="1"} -18.2
# HELP flespi_device_last_message_timestamp_seconds ` + devices.HelpLastMessage + `
# TYPE flespi_device_last_message_timestamp_seconds gauge
flespi_device_last_message_timestamp_seconds{ident="605630"} 1.506956075e+09
flespi_device_last_message_timestamp_seconds{device_name="CB500F",ident="350317172663183"} 1.739471454e+09
flespi_device_last_message_timestamp_seconds{device_name="FVO118",ident="4764252939"} 1.729132951e+09
flespi_device_last_message_timestamp_seconds{device_name="Vehicle",ident="111115555599999"} 1.780272e+09
flespi_device_last_message_timestamp_seconds{device_name="scooterMobi010",ident="015136001986400"} 1.70690517017258e+09
flespi_device_last_message_timestamp_seconds{device_name="truck-07",ident="352093081234567"} 1.71717120025e+09
# HELP flespi_position_latitude_degrees flespi parameter position.latitude (degrees in flespi)
# TYPE flespi_position_latitude_degrees gauge
flespi_position_latitude_degrees{ident="605630"} 53.90573
flespi_position_latitude_degrees{device_name="CB500F",ident="350317172663183"} 52.681715
flespi_position_latitude_degrees{device_name="FVO118",ident="4764252939"} 9.744994
flespi_position_latitude_degrees{device_name="Vehicle",ident="111115555599999"} 43.955218
flespi_position_latitude_degrees{device_name="truck-07",ident="352093081234567"} 52.520008
# HELP flespi_position_speed_meters_per_second Speed from the GNSS position, in meters per second (flespi sends km/h; InfluxDB keeps km/h).
# TYPE flespi_position_speed_meters_per_second gauge
flespi_position_speed_meters_per_second{ident="605630"} 0
flespi_position_speed_meters_per_second{device_name="CB500F",ident="350317172663183"} 0
flespi_position_speed_meters_per_second{device_name="FVO118",ident="4764252939"} 13.055555555555555
flespi_position_speed_meters_per_second{device_name="Vehicle",ident="111115555599999"} 0
flespi_position_speed_meters_per_second{device_name="truck-07",ident="352093081234567"} 17.5
# HELP flespi_vehicle_mileage_meters Odometer or mileage counter, in meters (flespi sends km).
# TYPE flespi_vehicle_mileage_meters gauge
flespi_vehicle_mileage_meters{ident="605630"} 160000
flespi_vehicle_mileage_meters{device_name="truck-07",ident="352093081234567"} 1.842335e+08
`
	err := testutil.ScrapeAndCompare(ex.InternalURL+"/metrics", strings.NewReader(want),
		"flespi_ble_sensor_temperature_celsius", "flespi_device_last_message_timestamp_seconds",
		"flespi_position_latitude_degrees", "flespi_position_speed_meters_per_second", "flespi_vehicle_mileage_meters")
	if err != nil {
		t.Error(err)
	}
	// The exposition carries no timestamps, so Prometheus' staleness works as usual.
	for _, line := range strings.Split(testexporter.Get(t, ex.InternalURL+"/metrics"), "\n") {
		if strings.HasPrefix(line, "flespi_") && !strings.HasPrefix(line, "flespi_exporter") && len(strings.Fields(line)) != 2 {
			t.Errorf("a sample with a timestamp: %q", line)
		}
	}
	if problems, err := testutil.GatherAndLint(ex.Registry); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", err, problems)
	}
}

// TestLateMessages: a message older than the one a gauge holds does not
// change it, whatever order the batches come in; the received-at gauge does
// follow arrivals.
func TestLateMessages(t *testing.T) {
	clock := tb.NewClock()
	ex := startExporterAt(t, "", nil, nil, clock.Now)
	send := func(ts int64, volts float64) {
		t.Helper()
		body := fmt.Sprintf(`[{"ident":"a","timestamp":%d,"battery.voltage":%v}]`, ts, volts)
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(body), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
		clock.Add(time.Minute)
	}
	send(1717171200, 4.1)
	send(1717171100, 3.2) // buffered, older: ignored by the gauges
	send(1717171200, 4.0) // same time: taken (a resend, or a correction)
	send(1717171300, 3.9)
	send(1717171250, 3.0) // late again
	want := `
# HELP flespi_battery_voltage_volts Voltage of the tracker's own battery.
# TYPE flespi_battery_voltage_volts gauge
flespi_battery_voltage_volts{ident="a"} 3.9
# HELP flespi_device_last_message_timestamp_seconds ` + devices.HelpLastMessage + `
# TYPE flespi_device_last_message_timestamp_seconds gauge
flespi_device_last_message_timestamp_seconds{ident="a"} 1.7171713e+09
# HELP flespi_device_last_received_timestamp_seconds ` + devices.HelpLastReceived + `
# TYPE flespi_device_last_received_timestamp_seconds gauge
flespi_device_last_received_timestamp_seconds{ident="a"} 1.7172002400e+09
`
	if err := testutil.ScrapeAndCompare(ex.InternalURL+"/metrics", strings.NewReader(want), "flespi_battery_voltage_volts",
		"flespi_device_last_message_timestamp_seconds", "flespi_device_last_received_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// TestExpiry: series not updated for their TTL disappear; a rule's ttl
// overrides mapping.gauge_ttl. The device gauges do not: a device whose
// values expired is still there, silent for longer and longer.
func TestExpiry(t *testing.T) {
	clock := tb.NewClock()
	ex := startExporterAt(t, "", nil, gaugeTTL(t, "1h"), clock.Now)
	body := []byte(`[{"ident":"a","timestamp":1717171200,"battery.voltage":4.1},{"ident":"b","timestamp":1717171200,"battery.voltage":3.7}]`)
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", body, nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	clock.Add(50 * time.Minute)
	testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"b","timestamp":1717171300,"battery.voltage":3.6}]`), nil)
	clock.Add(20 * time.Minute) // a: 70 minutes old, b: 20 minutes
	if !strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), `flespi_battery_voltage_volts{ident="b"} 3.6`) ||
		strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), `flespi_battery_voltage_volts{ident="a"}`) {
		t.Errorf("after a's TTL, want only b's battery series")
	}
	if got := ex.MetricValue(t, "flespi_battery_voltage_volts", "ident", "b"); got != 3.6 {
		t.Errorf("b = %v, want 3.6", got)
	}
	// a's voltage expired.
	if got := ex.MetricValue(t, "flespi_exporter_device_series_expired_total"); got != 1 {
		t.Errorf("expired_total = %v, want 1", got)
	}
	clock.Add(2 * time.Hour)
	if got := ex.MetricValue(t, "flespi_exporter_device_series"); got != 6 {
		t.Errorf("%v series left after everyone's TTL, want the registry's 6 (3 a device, no TTL)", got)
	}
	for ident, want := range map[string]float64{"a": 1717171200, "b": 1717171300} {
		if got := ex.MetricValue(t, "flespi_device_last_message_timestamp_seconds", "ident", ident); got != want {
			t.Errorf("%s's last message after its values expired: %v, want %v", ident, got, want)
		}
	}
}

// TestSeriesCap: past prometheus.max_series new series are refused and
// counted; existing ones still update. The device registry's three gauges
// a device count against the cap too: /metrics serves them beside.
func TestSeriesCap(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, func(c *config.Loaded) { c.Prometheus.MaxSeries = 7 })
	for _, body := range []string{
		`[{"ident":"a","timestamp":1717171200,"battery.voltage":4.1,"battery.level":50}]`, // 2 + a's 3 = 5
		`[{"ident":"b","timestamp":1717171200,"battery.voltage":3.7}]`,                    // 5 < 7: taken; + b's 3 = 9
		`[{"ident":"c","timestamp":1717171200,"battery.voltage":3.9}]`,                    // 9: refused
	} {
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(body), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	if got := ex.MetricValue(t, "flespi_exporter_device_series"); got != 12 {
		t.Errorf("series = %v, want 12 (3 rule series, 9 of the registry)", got)
	}
	if got := ex.MetricValue(t, "flespi_exporter_device_series_refused_total"); got != 1 {
		t.Errorf("refused = %v, want 1", got)
	}
	if got := ex.MetricValue(t, "flespi_device_last_message_timestamp_seconds", "ident", "c"); got != 1717171200 {
		t.Errorf("c's last message past the cap: %v", got)
	}
	testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171300,"battery.voltage":4.2}]`), nil)
	if got := ex.MetricValue(t, "flespi_battery_voltage_volts", "ident", "a"); got != 4.2 {
		t.Errorf("a's voltage = %v after the cap, want 4.2", got)
	}
}

// TestFutureMessageFreezesNothing: one message dated 2100 is stored but
// does not hold the speed gauge or the device's last message: the next
// message of today moves both.
func TestFutureMessageFreezesNothing(t *testing.T) {
	clock := tb.NewClock() // 2024-06-01
	ex := startExporterAt(t, "", nil, nil, clock.Now)
	now := clock.Now().Unix()
	for _, msg := range []string{
		`[{"ident":"a","timestamp":` + fmt.Sprint(now-60) + `,"position.speed":10}]`,
		`[{"ident":"a","timestamp":4102444800,"position.speed":99}]`,
		`[{"ident":"a","timestamp":` + fmt.Sprint(now) + `,"position.speed":36}]`,
	} {
		if code, answer := testexporter.Post(t, ex.URL+"/flespi", []byte(msg), nil); code != 200 {
			t.Fatalf("%d %s", code, answer)
		}
	}
	if got := ex.MetricValue(t, "flespi_position_speed_meters_per_second", "ident", "a"); got != 10 {
		t.Errorf("speed %v m/s, want 10 (36 km/h, today's message)", got)
	}
	if got := ex.MetricValue(t, "flespi_device_last_message_timestamp_seconds", "ident", "a"); got != float64(now) {
		t.Errorf("last message %v, want %d", got, now)
	}
	if got := ex.MetricValue(t, "flespi_exporter_values_skipped_total", "reason", "future_time"); got != 1 {
		t.Errorf("future_time skips %v, want 1", got)
	}
}
