//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
	"github.com/flespi-exporter/flespi-exporter/internal/testinflux"
	"github.com/flespi-exporter/flespi-exporter/internal/testmqtt"
)

const (
	mqttToken = "FlespiToken0123456789abcdef"
	mqttTopic = "flespi/message/gw/devices/42"
)

// mqttEnv is the exporter's environment for the broker and InfluxDB.
func mqttEnv(b *testmqtt.Broker, db *testinflux.Server, clientID string) map[string]string {
	env := map[string]string{
		"FLESPI_TOKEN": b.Token, "FLESPI_MQTT_URL": b.TLSURL, "FLESPI_MQTT_CA_FILE": b.CAFile,
		"FLESPI_MQTT_CLIENT_ID": clientID,
	}
	if db != nil {
		env["INFLUXDB_URL"], env["INFLUXDB_BUCKET"], env["INFLUXDB_TOKEN"] = db.URL, testinflux.Bucket, testinflux.Token
	}
	return env
}

// sampleObjects are the samples, one JSON object each, as the broker
// sends them (the first has no timestamp: it is left out).
func sampleObjects(t *testing.T) [][]byte {
	t.Helper()
	var msgs []json.RawMessage
	if err := json.Unmarshal(samples(t), &msgs); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs[1:] {
		out = append(out, m)
	}
	return out
}

// waitFor polls cond for up to limit.
func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", limit, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMQTTToInfluxDB: QoS 1 messages published by a real client, over the
// broker's TLS listener, end up in InfluxDB with exact values and times,
// and the status page says where they came from.
func TestMQTTToInfluxDB(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	db := testinflux.Start(t)
	ex := testexporter.StartInProcess(t, testexporter.Options{InfluxURL: db.URL, Env: mqttEnv(broker, db, "exporter-1")})
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_connected") == 1 })
	broker.Publish(mqttTopic, sampleObjects(t)...)
	waitFor(t, 20*time.Second, "7 points", func() bool { return countAll(t, db) == 7 })
	if got := jsonText(field(t, db, "server.timestamp", "4764252939", 1729132792000000000)); got != "1729132792.719063" {
		t.Errorf("server.timestamp = %s", got)
	}
	if got := jsonText(field(t, db, "position.speed", "352093081234567", 1717171200250000000)); got != "63" {
		t.Errorf("position.speed = %s", got)
	}
	waitFor(t, 5*time.Second, "7 acknowledgements", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_messages_acknowledged_total") == 7 })
	if status := get(t, ex.InternalURL+"/api/status"); !strings.Contains(status, `"source": "mqtt"`) {
		t.Errorf("the status page does not name the source:\n%.400s", status)
	}
	if code := status(t, ex.InternalURL+"/-/ready"); code != 200 {
		t.Errorf("/-/ready while connected: %d", code)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	code, _ := post(t, url, nil, nil)
	return code
}

// keep the imports of helpers the other tests use.
var _ = fmt.Sprint
var _ = os.Stat
var _ = filepath.Join
