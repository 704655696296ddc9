package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testmqtt"
	"github.com/flespi-exporter/flespi-exporter/testkit/workload"
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

// mqttExporter starts an exporter whose MQTT source has a session of its
// own at broker and waits for its subscription. end kills it and ends the
// session: a session left behind would keep a copy of the next runs'
// messages (it slowed mosquitto until a publisher timed out).
func (b *bench) mqttExporter(broker *testmqtt.Broker) (p *testexporter.Process, end func()) {
	mqttRuns++
	id := fmt.Sprintf("bench-%d", mqttRuns)
	env := map[string]string{
		"INFLUXDB_URL": b.db.URL, "INFLUXDB_BUCKET": testinflux.Bucket, "INFLUXDB_TOKEN": testinflux.Token,
		"FLESPI_TOKEN": broker.Token, "FLESPI_MQTT_URL": broker.URL, "FLESPI_MQTT_CLIENT_ID": id,
	}
	p = b.start(env, b.profileArgs())
	b.awaitMQTT(p)
	return p, func() {
		p.Kill()
		broker.EndSession(id)
	}
}

// awaitMQTT waits until p's MQTT source is connected and subscribed.
func (b *bench) awaitMQTT(p *testexporter.Process) {
	metrics := "http://" + p.InternalAddr + "/metrics"
	deadline := time.Now().Add(30 * time.Second)
	for testexporter.MetricValue(b.c, metrics, "flespi_exporter_mqtt_connected") != 1 {
		if time.Now().After(deadline) {
			b.c.Fatal("the exporter did not connect to mosquitto")
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // its subscription follows the connection
}

// awaitStored waits until InfluxDB holds n points.
func (b *bench) awaitStored(n int) {
	deadline := time.Now().Add(5 * time.Minute)
	for b.db.Count("flespi", "position.speed") != n {
		if time.Now().After(deadline) {
			b.c.Fatalf("%d of %d messages stored after 5 minutes", b.db.Count("flespi", "position.speed"), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// viaMQTT publishes the workload to mosquitto on loopback (QoS 1, one
// message per MQTT message, waiting for each PUBACK) while the exporter's
// MQTT source stores it in InfluxDB; the run ends when every message is a
// point.
func (b *bench) viaMQTT(broker *testmqtt.Broker, msgs [][]byte) result {
	b.resetDB()
	p, end := b.mqttExporter(broker)
	defer end()
	pid := p.Cmd.Process.Pid
	sc := b.countSyscalls(pid)
	cpuBefore, _ := procStats(b.c, pid)
	start := time.Now()
	broker.Publish("flespi/message/gw/devices/1", msgs...)
	b.awaitStored(len(msgs))
	r := b.measured(p, len(msgs), start, cpuBefore)
	r.sys = sc.stop(b.c, len(msgs), b.batch)
	return r
}

// viaMQTTBacklog is the catch-up after an outage: the workload is
// published while the exporter is away (the broker keeps it for the
// session), then the exporter starts again and drains it as fast as
// InfluxDB stores it.
func (b *bench) viaMQTTBacklog(broker *testmqtt.Broker, msgs [][]byte) result {
	b.resetDB()
	p, end := b.mqttExporter(broker)
	defer end()
	if err := p.Stop(); err != nil { // a normal DISCONNECT: the session stays
		b.c.Fatalf("stopping the exporter: %v", err)
	}
	broker.Publish("flespi/message/gw/devices/1", msgs...)
	start := time.Now()
	p.Restart()
	b.awaitStored(len(msgs))
	return b.measured(p, len(msgs), start, 0)
}

// measured is a run's result: wall time since start, the exporter's CPU
// time since cpuBefore, its peak memory.
func (b *bench) measured(p *testexporter.Process, n int, start time.Time, cpuBefore time.Duration) result {
	r := result{messages: n, wall: time.Since(start), hasExport: true}
	cpuAfter, peak := procStats(b.c, p.Cmd.Process.Pid)
	r.cpu, r.peakRSS = cpuAfter-cpuBefore, peak
	if b.profile != "" {
		_ = p.Stop() // writes the profile
	}
	return r
}
