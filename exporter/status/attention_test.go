package status

import (
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/exporter/output/influx"
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

// TestAttentionInfluxDBSettings: InfluxDB refusing the token or the bucket
// is first on the page with the setting to fix.
func TestAttentionInfluxDBSettings(t *testing.T) {
	fix := "InfluxDB refused the token: check INFLUXDB_TOKEN"
	rep := &Report{InfluxDB: &InfluxDB{State: influx.State{ConfigError: fix, LastError: "401"}}}
	got := attention(rep)
	if len(got) != 1 || got[0].Level != "bad" || got[0].Fix != fix {
		t.Errorf("%+v", got)
	}
}
