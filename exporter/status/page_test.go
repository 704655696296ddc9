package status_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/fakeinflux"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// TestStatusJSON is the status page's data as scripts read it.
func TestStatusJSON(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil)
	resp, err := http.Get(ex.InternalURL + "/api/status?sort=ident")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rep struct {
		Devices []struct {
			Ident, Name string
			Messages    int64
			LastMessage time.Time `json:"last_message"`
		}
		Unmapped []struct {
			Name, Example, Type string
			Messages            int64
			Devices             int
		}
		Rules []struct {
			Pattern string
			Hits    int64
		}
		InfluxDB    *struct{} `json:"influxdb"`
		GaugeSeries int       `json:"gauge_series"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Devices) != 6 || rep.Devices[4].Ident != "4764252939" || rep.Devices[4].Name != "FVO118" || rep.Devices[4].Messages != 4 {
		t.Errorf("devices: %+v", rep.Devices)
	}
	// The newer of FVO118's two messages is the one shown, though it came first.
	if got := rep.Devices[4].LastMessage.Unix(); got != 1729132951 {
		t.Errorf("FVO118 last message %d, want 1729132951", got)
	}
	if len(rep.Unmapped) != 1 || rep.Unmapped[0].Name != "custom.param.10800" || rep.Unmapped[0].Messages != 2 ||
		rep.Unmapped[0].Devices != 1 || rep.Unmapped[0].Example != "1" || rep.Unmapped[0].Type != "number" {
		t.Errorf("unmapped: %+v", rep.Unmapped)
	}
	var speedHits int64
	for _, r := range rep.Rules {
		if r.Pattern == `match = "position.speed"` {
			speedHits = r.Hits
		}
	}
	if speedHits != 14 { // 7 of the 8 samples have position.speed, posted twice
		t.Errorf("position.speed rule hits = %d, want 14", speedHits)
	}
	if rep.InfluxDB != nil || rep.GaugeSeries == 0 {
		t.Errorf("influxdb %+v, gauge series %d", rep.InfluxDB, rep.GaugeSeries)
	}
}

// TestSuggestionsGrouped: names that would be mapped by the same rule
// (io.245 and io.246 both suggest io.*) make one suggestion naming both.
func TestSuggestionsGrouped(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	testexporter.Post(t, ex.URL+"/flespi", []byte(`[{"ident":"a","timestamp":1717171200,"io.245":1,"io.246":2,"weird":true}]`), nil)
	var rep struct {
		Suggestions []struct {
			Rule  string
			Names []string
		}
	}
	if err := json.Unmarshal([]byte(testexporter.Get(t, ex.InternalURL+"/api/status")), &rep); err != nil {
		t.Fatal(err)
	}
	if len(rep.Suggestions) != 2 {
		t.Fatalf("suggestions %+v, want 2", rep.Suggestions)
	}
	for _, s := range rep.Suggestions {
		if strings.Contains(s.Rule, `"io.*"`) && len(s.Names) != 2 {
			t.Errorf("io.* covers %v, want io.245 and io.246", s.Names)
		}
	}
}

// TestStatusShowsMQTT: with the MQTT source on and its broker unreachable,
// the status page and its JSON say so, and why.
func TestStatusShowsMQTT(t *testing.T) {
	// Port 1 (tcpmux), where nothing listens: connections are refused. (A
	// port freed by a listener of the test was taken by another test in
	// between, once: the dial succeeded.)
	closed := "127.0.0.1:1"
	ex := testexporter.StartWith(t, "", map[string]string{
		"FLESPI_TOKEN": "token", "FLESPI_MQTT_URL": "mqtt://" + closed, "FLESPI_MQTT_CLIENT_ID": "status-test",
	}, nil)
	var rep struct {
		MQTT *struct {
			ClientID  string `json:"client_id"`
			Topics    []string
			Connected bool
			LastError string `json:"last_error"`
		} `json:"mqtt"`
	}
	deadline := time.Now().Add(10 * time.Second)
	for rep.MQTT == nil || rep.MQTT.LastError == "" {
		if time.Now().After(deadline) {
			t.Fatalf("no MQTT error on the status after 10 s: %+v", rep.MQTT)
		}
		time.Sleep(50 * time.Millisecond)
		resp, err := http.Get(ex.InternalURL + "/api/status")
		if err != nil {
			t.Fatal(err)
		}
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	if rep.MQTT.Connected || !strings.Contains(rep.MQTT.LastError, "connection refused") || rep.MQTT.ClientID != "status-test" ||
		len(rep.MQTT.Topics) != 1 || rep.MQTT.Topics[0] != "flespi/message/gw/devices/+" {
		t.Errorf("mqtt status: %+v", rep.MQTT)
	}
	resp, err := http.Get(ex.InternalURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`id="mqtt-card">MQTT<b><span class="bad">disconnected</span>`, `id="mqtt-error">MQTT: dial tcp ` + closed, "client id status-test"} {
		if !strings.Contains(string(page), want) {
			t.Errorf("the status page lacks %q", want)
		}
	}
}

// TestStatusShowsInfluxDBOnce: the Exporter table names InfluxDB's URL
// and bucket once, in its output's row, with its last error beside it.
func TestStatusShowsInfluxDBOnce(t *testing.T) {
	db := fakeinflux.Start(t)
	ex := testexporter.StartWith(t, db.URL, nil, nil)
	ex.PostSamples(t)
	resp, err := http.Get(ex.InternalURL + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if n := strings.Count(string(page), db.URL+" bucket "); n != 1 {
		t.Errorf("the status page names InfluxDB's URL and bucket %d times, want once", n)
	}
	if !strings.Contains(string(page), "<td>InfluxDB last error</td><td>none</td>") {
		t.Error("the status page lacks InfluxDB's last error")
	}
}
