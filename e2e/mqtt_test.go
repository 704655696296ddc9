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

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testmqtt"
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
	if err := json.Unmarshal(testexporter.Samples(t), &msgs); err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, m := range msgs[1:] {
		out = append(out, m)
	}
	return out
}

// brokers are the two MQTT implementations the cases that do not depend
// on one broker's features run against: mosquitto (many messages in
// flight) and ejabberd (one in flight).
var brokers = []struct {
	name  string
	start func(t *testing.T, token string) *testmqtt.Broker
}{
	{"mosquitto", func(t *testing.T, token string) *testmqtt.Broker { return testmqtt.Start(t, token) }},
	{"ejabberd", func(t *testing.T, token string) *testmqtt.Broker { return testmqtt.StartEjabberd(t, token) }},
}

// onEachBroker runs test as a subtest per broker.
func onEachBroker(t *testing.T, test func(t *testing.T, start func(t *testing.T, token string) *testmqtt.Broker, name string)) {
	for _, b := range brokers {
		t.Run(b.name, func(t *testing.T) { test(t, b.start, b.name) })
	}
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
	onEachBroker(t, testMQTTToInfluxDB)
}

func testMQTTToInfluxDB(t *testing.T, start func(*testing.T, string) *testmqtt.Broker, _ string) {
	broker := start(t, mqttToken)
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
	report := testexporter.Get(t, ex.InternalURL+"/api/status")
	if !strings.Contains(report, `"source": "mqtt"`) {
		t.Errorf("the status page does not name the source:\n%.400s", report)
	}
	if !strings.Contains(report, `"connected": true`) || !strings.Contains(report, `"messages_acknowledged": 7`) {
		t.Errorf("the status page does not show the MQTT source's state:\n%s", report)
	}
	if code := status(t, ex.InternalURL+"/-/ready"); code != 200 {
		t.Errorf("/-/ready while connected: %d", code)
	}
}

// TestMQTTOverWebSocket: through a broker's WebSocket listener (flespi's
// port 443 for networks that let only HTTPS out) messages arrive as over
// TCP.
func TestMQTTOverWebSocket(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	db := testinflux.Start(t)
	env := mqttEnv(broker, db, "exporter-ws")
	env["FLESPI_MQTT_URL"] = broker.WSURL
	ex := testexporter.StartInProcess(t, testexporter.Options{InfluxURL: db.URL, Env: env})
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_connected") == 1 })
	broker.Publish(mqttTopic, numbered(1000, 0)...)
	waitFor(t, 20*time.Second, "1000 points", func() bool { return countAll(t, db) == 1000 })
	waitFor(t, 5*time.Second, "1000 acknowledgements", func() bool {
		return ex.MetricValue(t, "flespi_exporter_mqtt_messages_acknowledged_total") == 1000
	})
	if got := jsonText(field(t, db, "position.speed", "mq", 1717171200000000000+999*1000000000)); got != "199" {
		t.Errorf("position.speed of the last message = %s", got)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	code, _ := testexporter.Post(t, url, nil, nil)
	return code
}

// numbered makes n messages of one device, a second apart, value i each.
func numbered(n, from int) [][]byte {
	var out [][]byte
	for i := from; i < from+n; i++ {
		out = append(out, fmt.Appendf(nil, `{"ident":"mq","timestamp":%d,"position.speed":%d}`, 1717171200+i, i%200))
	}
	return out
}

// speeds counts the points of device mq.
// connectedExporter starts a broker, InfluxDB and the exporter binary
// subscribing as clientID, and waits for the connection; metrics is the
// exporter's /metrics.
func connectedExporter(t *testing.T, start func(*testing.T, string) *testmqtt.Broker, clientID string) (*testmqtt.Broker, *testinflux.Server, *testexporter.Process, string) {
	t.Helper()
	broker := start(t, mqttToken)
	db := testinflux.Start(t)
	ex := testexporter.Start(t, mqttEnv(broker, db, clientID))
	metrics := "http://" + ex.InternalAddr + "/metrics"
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_connected") == 1 })
	return broker, db, ex, metrics
}

func speeds(t *testing.T, db *testinflux.Server) int {
	t.Helper()
	return db.Count("flespi", "position.speed")
}

// TestMQTTHoldsWhileInfluxDBIsDown: while InfluxDB is down nothing is
// acknowledged: the exporter, killed then, leaves every message with the
// broker (a second look at the session shows them); InfluxDB and the
// exporter back, every message is stored once.
func TestMQTTHoldsWhileInfluxDBIsDown(t *testing.T) {
	onEachBroker(t, testMQTTHoldsWhileInfluxDBIsDown)
}

func testMQTTHoldsWhileInfluxDBIsDown(t *testing.T, start func(*testing.T, string) *testmqtt.Broker, name string) {
	broker, db, ex, metrics := connectedExporter(t, start, "exporter-down")
	db.Stop()
	broker.Publish(mqttTopic, numbered(300, 0)...)
	waitFor(t, 20*time.Second, "a batch held", func() bool {
		return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_batches_held_total") >= 1
	})
	if got := testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_messages_acknowledged_total"); got != 0 {
		t.Fatalf("%v messages acknowledged while InfluxDB is down", got)
	}
	ex.Kill()
	// A second look: the exporter's session still holds the 300 messages
	// (looked at without acknowledging them). ejabberd shows one at a
	// time: the next only once that one is acknowledged.
	want := 300
	if name == "ejabberd" {
		want = 1
	}
	if kept := broker.Peek("exporter-down", 2*time.Second); kept != want {
		t.Errorf("the session shows %d messages, want %d of the 300 unacknowledged", kept, want)
	}
	db.Restart()
	ex.Restart()
	waitFor(t, 30*time.Second, "300 points", func() bool { return speeds(t, db) == 300 })
	time.Sleep(2 * time.Second) // a redelivered message overwrites its point: still 300
	if n := speeds(t, db); n != 300 {
		t.Errorf("%d points, want 300", n)
	}
	if got := testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_messages_redelivered_total"); got < 1 {
		t.Errorf("no message came again after the restart (redelivered %v)", got)
	}
}

// TestMQTTKilledMidStream: the exporter SIGKILLed while messages flow and
// restarted with the same client id loses none.
func TestMQTTKilledMidStream(t *testing.T) {
	onEachBroker(t, testMQTTKilledMidStream)
}

func testMQTTKilledMidStream(t *testing.T, start func(*testing.T, string) *testmqtt.Broker, _ string) {
	broker, db, ex, _ := connectedExporter(t, start, "exporter-kill")
	done := make(chan struct{})
	go func() {
		defer close(done)
		broker.Publish(mqttTopic, numbered(3000, 0)...)
	}()
	waitFor(t, 20*time.Second, "some messages stored", func() bool { return speeds(t, db) > 200 })
	ex.Kill()
	<-done
	ex.Restart()
	waitFor(t, 60*time.Second, "3000 points", func() bool { return speeds(t, db) == 3000 })
}

// TestMQTTSharedSubscription: two exporters in one share group split the
// messages: every one stored, none twice, both took part.
func TestMQTTSharedSubscription(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	db := testinflux.Start(t)
	var exs []*testexporter.InProcess
	for _, id := range []string{"replica-a", "replica-b"} {
		env := mqttEnv(broker, db, id)
		env["FLESPI_MQTT_SHARE_GROUP"] = "flespi-exporter"
		exs = append(exs, testexporter.StartInProcess(t, testexporter.Options{InfluxURL: db.URL, Env: env}))
	}
	for _, ex := range exs {
		waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_connected") == 1 })
	}
	time.Sleep(500 * time.Millisecond) // the subscriptions follow the connections
	broker.Publish(mqttTopic, numbered(2000, 0)...)
	waitFor(t, 30*time.Second, "2000 points", func() bool { return speeds(t, db) == 2000 })
	a, b := exs[0].MetricValue(t, "flespi_exporter_mqtt_messages_received_total"), exs[1].MetricValue(t, "flespi_exporter_mqtt_messages_received_total")
	if a+b != 2000 || a == 0 || b == 0 {
		t.Errorf("received %v and %v, want 2000 between both, each some", a, b)
	}
}

// TestMQTTBadPayloads: payloads that can never be stored (not JSON, not
// an object, no ident) are counted, kept and acknowledged; they do not
// block the good message after them.
func TestMQTTBadPayloads(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	db := testinflux.Start(t)
	dataDir := t.TempDir()
	env := mqttEnv(broker, db, "exporter-bad")
	env["FLESPI_EXPORTER_DATA_DIR"] = dataDir
	ex := testexporter.StartInProcess(t, testexporter.Options{InfluxURL: db.URL, Env: env})
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_connected") == 1 })
	broker.Publish(mqttTopic, []byte("not json"), []byte(`[1,2]`), []byte(`{"no":"ident","timestamp":1}`), numbered(1, 0)[0])
	waitFor(t, 20*time.Second, "the good message", func() bool { return speeds(t, db) == 1 })
	waitFor(t, 5*time.Second, "4 acknowledgements", func() bool { return ex.MetricValue(t, "flespi_exporter_mqtt_messages_acknowledged_total") == 4 })
	if got := ex.MetricValue(t, "flespi_exporter_mqtt_messages_rejected_total"); got != 2 {
		t.Errorf("rejected %v, want 2 (not JSON, not an object)", got)
	}
	if got := ex.MetricValue(t, "flespi_exporter_messages_skipped_total", "reason", "no_ident"); got != 1 {
		t.Errorf("no_ident %v, want 1", got)
	}
	data, _ := os.ReadFile(filepath.Join(dataDir, "mqtt-rejected.jsonl"))
	if strings.Count(string(data), "\n") != 2 || !strings.Contains(string(data), `"payload":"not json"`) {
		t.Errorf("rejected file:\n%s", data)
	}
}

// TestMQTTWrongToken: a token the broker refuses is a clear log line and
// retries with backoff, never a crash; /-/ready says not connected.
func TestMQTTWrongToken(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	env := mqttEnv(broker, nil, "exporter-wrong")
	env["FLESPI_TOKEN"] = "NotTheToken"
	ex := testexporter.Start(t, env)
	waitFor(t, 10*time.Second, "the refusal in the log", func() bool { return strings.Contains(ex.Log(), "the broker refused the token") })
	code, _ := testexporter.Post(t, "http://"+ex.InternalAddr+"/-/ready", nil, nil)
	if code != 503 {
		t.Errorf("/-/ready with a refused token: %d", code)
	}
	time.Sleep(3 * time.Second)
	if ex.Cmd == nil || ex.Cmd.ProcessState != nil {
		t.Fatal("the exporter exited")
	}
	if n := strings.Count(ex.Log(), "the broker refused the token"); n < 2 || n > 5 {
		t.Errorf("%d attempts in 3 s: want a retry with backoff", n)
	}
}

// TestMQTTOneInFlight: a broker that sends the next message only once the
// last is acknowledged (ejabberd) meets a source that stores a batch as
// soon as the inflow pauses: 2,000 messages stored in well under 20 s
// (with a batch that waited batch_wait to fill, 61 in 60 s).
func TestMQTTOneInFlight(t *testing.T) {
	broker := testmqtt.StartEjabberd(t, mqttToken)
	db := testinflux.Start(t)
	ex := testexporter.Start(t, mqttEnv(broker, db, "exporter-one"))
	metrics := "http://" + ex.InternalAddr + "/metrics"
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_connected") == 1 })
	start := time.Now()
	broker.Publish(mqttTopic, numbered(2000, 0)...) // the exporter is sent one at a time meanwhile
	waitFor(t, 20*time.Second-time.Since(start), "2000 points within 20 s of the first published", func() bool { return speeds(t, db) == 2000 })
	t.Logf("2000 messages one at a time, stored %v after the first was published", time.Since(start).Round(time.Millisecond))
	waitFor(t, 5*time.Second, "2000 acknowledgements", func() bool {
		return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_messages_acknowledged_total") == 2000
	})
}

// TestMQTTQoS2InSession: the exporter's session holds QoS 2 messages (an
// earlier client with its client id subscribed at QoS 2) before it
// connects: they are stored, with the QoS 1 messages after them, and
// completed, so the session goes on (the reader once refused the first,
// reconnected, and got it first again, for ever).
func TestMQTTQoS2InSession(t *testing.T) {
	broker := testmqtt.Start(t, mqttToken)
	db := testinflux.Start(t)
	broker.SubscribeSession("exporter-qos2", "flespi/message/gw/devices/+", 2)
	broker.PublishQoS(mqttTopic, 2, numbered(3, 0)...)
	ex := testexporter.Start(t, mqttEnv(broker, db, "exporter-qos2"))
	metrics := "http://" + ex.InternalAddr + "/metrics"
	waitFor(t, 10*time.Second, "the MQTT connection", func() bool { return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_connected") == 1 })
	broker.Publish(mqttTopic, numbered(100, 3)...)
	waitFor(t, 20*time.Second, "103 points", func() bool { return speeds(t, db) == 103 })
	waitFor(t, 5*time.Second, "103 acknowledgements", func() bool {
		return testexporter.MetricValue(t, metrics, "flespi_exporter_mqtt_messages_acknowledged_total") == 103
	})
	// Completed: a later look at the session finds nothing left.
	ex.Kill()
	if kept := broker.Peek("exporter-qos2", time.Second); kept != 0 {
		t.Errorf("the session still holds %d messages", kept)
	}
}
