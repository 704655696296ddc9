package mapping

import (
	"strings"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/message"
)

// TestLongNamesSkipped: a parameter name longer than message.MaxNameLen
// (a stream that puts data in its keys) makes no field, no gauge and no
// cache entry, and is counted; names up to the limit map as usual.
func TestLongNamesSkipped(t *testing.T) {
	m, err := Compile(DefaultConfig(), []Rule{{Match: "**.status"}})
	if err != nil {
		t.Fatal(err)
	}
	long := strings.Repeat("x", 10_000) + ".status"
	limit := strings.Repeat("y", message.MaxNameLen-len(".status")) + ".status"
	var r Result
	err = message.NewDecoder().Decode([]byte(`{"ident":"a","timestamp":1717171200,"`+long+`":1,"`+limit+`":1}`), func(msg *message.Message) error {
		return m.Apply(msg, time.Unix(1717171200, 0), &r)
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Samples) != 1 || r.Samples[0].Name != "flespi_"+strings.ReplaceAll(limit, ".", "_") {
		t.Errorf("samples %d, want the one of the name at the limit", len(r.Samples))
	}
	if len(r.Skipped) != 1 || r.Skipped[0].Reason != SkipNameTooLong || len(r.Skipped[0].Param) > 100 {
		t.Errorf("skipped %+v", r.Skipped)
	}
	if _, cached := m.cache.Load(long); cached || m.cachedBytes.Load() > 10_000 {
		t.Errorf("the long name is cached (cache holds %d bytes)", m.cachedBytes.Load())
	}
}
