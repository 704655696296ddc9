package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/testexporter"
	"github.com/flespi-exporter/flespi-exporter/internal/testinflux"
	"github.com/flespi-exporter/flespi-exporter/internal/testmqtt"
	"github.com/flespi-exporter/flespi-exporter/internal/workload"
)

// objects splits the workload's batches into its messages, one JSON object
// each, as flespi's broker sends them.
func objects(b *bench, w *workload.Workload) [][]byte {
	var out [][]byte
	for _, batch := range w.Batches {
		var msgs []json.RawMessage
		if err := json.Unmarshal(batch, &msgs); err != nil {
			b.c.Fatal(err)
		}
		for _, m := range msgs {
			out = append(out, m)
		}
	}
	return out
}

// mqttRuns counts the MQTT runs, for a client id (a session) of their own.
var mqttRuns int

// viaMQTT publishes the workload to mosquitto on loopback (QoS 1, one
// message per MQTT message, waiting for each PUBACK) while the exporter's
// MQTT source stores it in InfluxDB; the run ends when every message is a
// point.
func (b *bench) viaMQTT(broker *testmqtt.Broker, msgs [][]byte) result {
	b.resetDB()
	mqttRuns++
	env := map[string]string{
		"INFLUXDB_URL": b.db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token,
		"FLESPI_TOKEN": broker.Token, "FLESPI_MQTT_URL": broker.URL, "FLESPI_MQTT_CLIENT_ID": fmt.Sprintf("bench-%d", mqttRuns),
	}
	var args []string
	if b.profile != "" {
		args = []string{"-cpuprofile", b.profile}
	}
	p := testexporter.Start(b.c, env, args...)
	defer broker.EndSession(env["FLESPI_MQTT_CLIENT_ID"]) // else mosquitto keeps a copy of the next runs for it
	defer p.Kill()
	metrics := "http://" + p.InternalAddr + "/metrics"
	deadline := time.Now().Add(30 * time.Second)
	for testexporter.MetricValue(b.c, metrics, "flespi_exporter_mqtt_connected") != 1 {
		if time.Now().After(deadline) {
			b.c.Fatal("the exporter did not connect to mosquitto")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // its subscription follows the connection
	pid := p.Cmd.Process.Pid
	cpuBefore, _ := procStats(b.c, pid)
	start := time.Now()
	broker.Publish("flespi/message/gw/devices/1", msgs...)
	deadline = time.Now().Add(5 * time.Minute)
	for b.db.Count("flespi", "position.speed") != len(msgs) {
		if time.Now().After(deadline) {
			b.c.Fatalf("%d of %d messages stored after 5 minutes", b.db.Count("flespi", "position.speed"), len(msgs))
		}
		time.Sleep(100 * time.Millisecond)
	}
	r := result{messages: len(msgs), wall: time.Since(start), hasExport: true}
	cpuAfter, peak := procStats(b.c, pid)
	r.cpu, r.peakRSS = cpuAfter-cpuBefore, peak
	if b.profile != "" {
		_ = p.Stop() // writes the profile
	}
	return r
}
