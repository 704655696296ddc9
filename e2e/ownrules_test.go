//go:build e2e

package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
	"github.com/flespi-exporter/flespi-exporter/testkit/testprom"
)

// TestOwnThresholdFires: your own rule in rules.d for can.fuel.level,
// which the shipped config.toml maps and alerts on below 10 %, with your
// alert FleetLowFuel below 15 %. `check` passes, `alerts` writes your
// threshold, and with a real Prometheus on the generated rules a tanker
// at 12 % fires FleetLowFuel while the shipped FlespiLowFuel stays quiet
// for it (before, check failed and the shipped config had to be edited).
func TestOwnThresholdFires(t *testing.T) {
	own := "[[rule]]\nmatch = \"can.fuel.level\"\nunit = \"percent\"\nhelp = \"Fuel level of the tanker's CAN sensor.\"\n" +
		"[[rule.alert]]\nname = \"FleetLowFuel\"\nbelow = 15\nfor = \"0s\"\nsummary = \"is low on fuel\"\n"
	conf := testexporter.WithOwnRules(t, own)
	dir := filepath.Dir(conf)
	bin := testexporter.Binary(t)
	if out, err := exec.Command(bin, "check", "-config", conf).CombinedOutput(); err != nil {
		t.Fatalf("check: %v\n%s", err, out)
	}
	out, err := exec.Command(bin, "alerts", "-config", conf, "-dir", dir, "-dashboard", "").CombinedOutput()
	if err != nil {
		t.Fatalf("alerts: %v\n%s", err, out)
	}
	ex := testexporter.StartConfig(t, conf, map[string]string{"INFLUXDB_URL": ""})
	rules, _ := filepath.Abs("../grafana/prometheus/alerts.yml")
	prom := testprom.Start(t, testprom.Config{MetricsPath: "/metrics", Targets: []string{ex.InternalAddr},
		RuleFiles: []string{rules, filepath.Join(dir, "rule-alerts.yml")}})
	// At 12 % only your threshold is crossed; at 8 % the shipped one would
	// be too, and must not fire a second alert for the same tank.
	body := fmt.Sprintf(`[{"ident":"tanker","timestamp":%d,"can.fuel.level":12},{"ident":"empty","timestamp":%d,"can.fuel.level":8}]`,
		time.Now().Unix(), time.Now().Unix())
	if code, answer := testexporter.Post(t, "http://"+ex.Addr+"/flespi", []byte(body), nil); code != 200 {
		t.Fatalf("%d %s", code, answer)
	}
	prom.WaitFor(`ALERTS{alertname="FleetLowFuel", ident=~"tanker|empty", alertstate="firing"}`, 2)
	time.Sleep(3 * time.Second) // rule evaluations every second
	if got := prom.Query(`ALERTS{alertname="FlespiLowFuel"}`); len(got) != 0 {
		t.Errorf("the shipped FlespiLowFuel fires too (or is pending) for a tank your alert covers: %v", got)
	}
}
