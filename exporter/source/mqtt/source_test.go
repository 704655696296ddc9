package mqtt

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/internal/mqtt5"
)

func TestBackoff(t *testing.T) {
	want := []time.Duration{0, time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 16 * time.Second, 32 * time.Second, time.Minute, time.Minute}
	for i, w := range want {
		if got := backoff(i); got != w {
			t.Errorf("backoff(%d) = %v, want %v", i, got, w)
		}
	}
}

func TestConnectError(t *testing.T) {
	refused := &mqtt5.RefusedError{Code: 0x86}
	if msg := connectError(refused); !strings.Contains(msg, "the broker refused the token") {
		t.Errorf("refused: %q", msg)
	}
	busy := &mqtt5.RefusedError{Code: 0x89, Reason: "later"}
	if msg := connectError(busy); msg != "the broker refused the connection: reason code 0x89 (server busy): later" {
		t.Errorf("busy: %q", msg)
	}
	if msg := connectError(errors.New("dial tcp: connection refused")); msg != "dial tcp: connection refused" {
		t.Errorf("network: %q", msg)
	}
}

// TestRejectedFile: a payload that can never be stored is kept as a JSON
// line with its topic and why.
func TestRejectedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "mqtt-rejected.jsonl")
	r, err := openRejected(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.write([]rejected{{"flespi/message/gw/devices/1", []byte("not json"), errors.New("invalid JSON")}}, time.Unix(0, 0)); err != nil {
		t.Fatal(err)
	}
	r.close()
	data, _ := os.ReadFile(path)
	want := `{"time":"1970-01-01T00:00:00Z","error":"invalid JSON","topic":"flespi/message/gw/devices/1","payload":"not json"}` + "\n"
	if string(data) != want {
		t.Errorf("got %q", data)
	}
}
