package exporter_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// statusDevices reads the devices of /api/status: messages by ident.
func statusDevices(t *testing.T, ex *testexporter.InProcess) map[string]int64 {
	t.Helper()
	var rep struct {
		Devices []struct {
			Ident    string
			Messages int64
		}
	}
	if err := json.Unmarshal([]byte(testexporter.Get(t, ex.InternalURL+"/api/status")), &rep); err != nil {
		t.Fatal(err)
	}
	out := map[string]int64{}
	for _, d := range rep.Devices {
		out[d.Ident] = d.Messages
	}
	return out
}

// TestRegistryAcrossRestart: a second exporter on the same data directory
// serves the first one's devices from its first scrape, and lists them on
// the status page with no message since the start.
func TestRegistryAcrossRestart(t *testing.T) {
	env := map[string]string{"FLESPI_EXPORTER_DATA_DIR": t.TempDir()}
	first := testexporter.StartWith(t, "", env, nil)
	first.PostSamples(t)
	before := testexporter.Get(t, first.InternalURL+"/metrics")
	if err := first.Server.SaveDevices(); err != nil {
		t.Fatal(err)
	}
	second := testexporter.StartWith(t, "", env, nil)
	after := testexporter.Get(t, second.InternalURL+"/metrics")
	for _, line := range strings.Split(before, "\n") {
		if strings.HasPrefix(line, "flespi_device_last_") && !strings.Contains(after, line+"\n") {
			t.Errorf("after the restart /metrics lacks %q", line)
		}
	}
	if devs := statusDevices(t, second); len(devs) != 6 || devs["4764252939"] != 0 {
		t.Errorf("status page after the restart: %v, want the 6 devices with 0 messages", devs)
	}
}

// TestForgetDevice: POST /api/devices/forget on the internal listener
// removes a device from /metrics and the status page; an unknown one is
// 404, and the stream listener does not offer it.
func TestForgetDevice(t *testing.T) {
	ex := testexporter.StartWith(t, "", nil, nil)
	ex.PostSamples(t)
	if code := status(t, "POST", ex.URL+"/api/devices/forget?ident=605630", nil); code != http.StatusNotFound {
		t.Errorf("forget on the stream listener: %d, want 404", code)
	}
	if code, answer := testexporter.Post(t, ex.InternalURL+"/api/devices/forget?ident=605630", nil, nil); code != 200 || answer != "forgotten: 605630" {
		t.Fatalf("forget: %d %q", code, answer)
	}
	if strings.Contains(testexporter.Get(t, ex.InternalURL+"/metrics"), `flespi_device_last_message_timestamp_seconds{ident="605630"}`) {
		t.Error("a forgotten device is still on /metrics")
	}
	if _, listed := statusDevices(t, ex)["605630"]; listed {
		t.Error("a forgotten device is still on the status page")
	}
	if code, _ := testexporter.Post(t, ex.InternalURL+"/api/devices/forget?ident=605630", nil, nil); code != http.StatusNotFound {
		t.Errorf("forgetting it again: %d, want 404", code)
	}
}
