package status

import (
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/exporter/pipeline"
	"github.com/flespi-exporter/flespi-exporter/exporter/source/mqtt"
)

// TestAttentionMQTT: a source not connected, and a subscription refused
// or granted at QoS 0 only while connected, are at the top of the page
// with what to do.
func TestAttentionMQTT(t *testing.T) {
	rep := &Report{MQTT: &mqtt.State{Connected: false, LastError: "the broker refused every subscription",
		Subscriptions: []string{"flespi/message/gw/devices/+ refused: reason code 0x87 (not authorized)"}}}
	got := attention(rep)
	if len(got) != 2 || got[0].Level != "bad" || !strings.Contains(got[0].What, "not connected: the broker refused every subscription") ||
		!strings.Contains(got[1].What, "refused: reason code 0x87") || !strings.Contains(got[1].Fix, "ACL") {
		t.Errorf("not connected, refused: %+v", got)
	}
	rep.MQTT = &mqtt.State{Connected: true, Subscriptions: []string{"t/+ granted at QoS 0 only: its messages are not acknowledged"}}
	if got := attention(rep); len(got) != 1 || !strings.Contains(got[0].What, "QoS 0") {
		t.Errorf("QoS 0: %+v", got)
	}
	rep.MQTT = &mqtt.State{Connected: true}
	if got := attention(rep); len(got) != 0 {
		t.Errorf("connected and subscribed: %+v", got)
	}
}

// TestAttentionInfluxDBSettings: what an output says needs the operator
// (InfluxDB refusing the token) is on the page, what stops storing first.
func TestAttentionInfluxDBSettings(t *testing.T) {
	fix := "InfluxDB refused the token: check INFLUXDB_TOKEN"
	rep := &Report{Outputs: []pipeline.Report{{Output: "influxdb", Attention: []pipeline.Attention{{Level: "bad", What: "InfluxDB refuses the exporter's writes", Fix: fix}}}}}
	rep.Unmapped = []Unmapped{{Name: "x"}}
	rep.Outputs = append([]pipeline.Report{{Output: "remote_write", Attention: []pipeline.Attention{{Level: "warn", What: "refused samples"}}}}, rep.Outputs...)
	got := attention(rep)
	if len(got) != 3 || got[0].Level != "bad" || got[0].Fix != fix || got[1].What != "refused samples" {
		t.Errorf("%+v", got)
	}
}
