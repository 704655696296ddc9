package grafana

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"gopkg.in/yaml.v3"

	"github.com/flespi-exporter/flespi-exporter/testkit/dashboardtest"
	"github.com/flespi-exporter/flespi-exporter/testkit/testexporter"
)

// loadCompose loads docker-compose.yml with the variables of .env.example,
// as `docker compose` would after `cp .env.example .env`.
func loadCompose(t *testing.T) *types.Project {
	t.Helper()
	opts, err := cli.NewProjectOptions([]string{"../docker-compose.yml"},
		cli.WithWorkingDirectory(".."),
		cli.WithEnvFiles("../.env.example"),
		cli.WithDotEnv,
	)
	if err != nil {
		t.Fatal(err)
	}
	project, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return project
}

func TestComposeServices(t *testing.T) {
	project := loadCompose(t)
	var names []string
	for name := range project.Services {
		names = append(names, name)
	}
	slices.Sort(names)
	want := []string{"alertmanager", "exporter", "grafana", "influxdb", "prometheus"}
	if !slices.Equal(names, want) {
		t.Fatalf("services %v, want %v", names, want)
	}
	repo, _ := filepath.Abs("..")
	pinned := regexp.MustCompile(`^[a-z0-9./-]+:v?[0-9]+\.[0-9]+\.[0-9]+$`)
	for name, svc := range project.Services {
		if svc.Build == nil && !pinned.MatchString(svc.Image) {
			t.Errorf("%s: image %q is not pinned to a version", name, svc.Image)
		}
		if svc.HealthCheck == nil || svc.HealthCheck.Disable || len(svc.HealthCheck.Test) == 0 {
			t.Errorf("%s: no health check", name)
		}
		for dep, d := range svc.DependsOn {
			if d.Condition != types.ServiceConditionHealthy {
				t.Errorf("%s depends on %s without condition: service_healthy", name, dep)
			}
		}
		for _, v := range svc.Volumes {
			switch v.Type {
			case types.VolumeTypeBind:
				if !strings.HasPrefix(v.Source, repo+string(filepath.Separator)) {
					t.Errorf("%s mounts %s, outside the repository", name, v.Source)
				} else if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, which is not in the repository", name, v.Source)
				}
				if !v.ReadOnly {
					t.Errorf("%s mounts %s writable", name, v.Source)
				}
			case types.VolumeTypeVolume:
				if _, ok := project.Volumes[v.Source]; !ok {
					t.Errorf("%s uses volume %q, not declared", name, v.Source)
				}
			}
		}
	}
	if ex := project.Services["exporter"]; ex.Build == nil || ex.Build.Context != repo {
		t.Errorf("exporter is not built from the repository's Dockerfile: %+v", ex.Build)
	}
	for _, vol := range []string{"influxdb-data", "prometheus-data", "grafana-data"} {
		if _, ok := project.Volumes[vol]; !ok {
			t.Errorf("no named volume %s", vol)
		}
	}
}

// TestComposePublishesOnlyStreamAndGrafana: flespi reaches the exporter's
// stream port, people Grafana; nothing else is published, the exporter's
// internal listener least of all.
func TestComposePublishesOnlyStreamAndGrafana(t *testing.T) {
	project := loadCompose(t)
	var published []string
	for name, svc := range project.Services {
		for _, p := range svc.Ports {
			published = append(published, fmt.Sprintf("%s:%d", name, p.Target))
		}
	}
	slices.Sort(published)
	if want := []string{"exporter:9883", "grafana:3000"}; !slices.Equal(published, want) {
		t.Errorf("published %v, want %v", published, want)
	}
}

// TestComposeInternalListener: the health check and Prometheus use the
// exporter's internal listener, the one its environment sets, and the
// stream port is not it.
func TestComposeInternalListener(t *testing.T) {
	ex := loadCompose(t).Services["exporter"]
	internal := ex.Environment["FLESPI_EXPORTER_INTERNAL_LISTEN"]
	if internal == nil || *internal != ":9884" {
		t.Fatalf("FLESPI_EXPORTER_INTERNAL_LISTEN = %v, want :9884", internal)
	}
	if _, ok := ex.Environment["FLESPI_TOKEN"]; !ok {
		t.Error("the exporter's environment has no FLESPI_TOKEN: setting it in .env must turn the MQTT source on")
	}
	if test := strings.Join(ex.HealthCheck.Test, " "); !strings.Contains(test, "http://127.0.0.1:9884/-/ready") {
		t.Errorf("the health check %q does not ask the internal listener", test)
	}
	var prom struct {
		ScrapeConfigs []struct {
			JobName       string `yaml:"job_name"`
			StaticConfigs []struct {
				Targets []string `yaml:"targets"`
			} `yaml:"static_configs"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus/prometheus.yml", &prom)
	for _, sc := range prom.ScrapeConfigs {
		if sc.JobName == "flespi-exporter" && (len(sc.StaticConfigs) != 1 || !slices.Equal(sc.StaticConfigs[0].Targets, []string{"exporter:9884"})) {
			t.Errorf("Prometheus scrapes %+v, want exporter:9884", sc.StaticConfigs)
		}
	}
}

// TestComposeStartsInPieces: the exporter waits for InfluxDB, and nothing
// waits for the exporter: Prometheus, Alertmanager and Grafana start when
// it cannot (a configuration error), so that they can tell.
func TestComposeStartsInPieces(t *testing.T) {
	project := loadCompose(t)
	got := map[string][]string{}
	for name, svc := range project.Services {
		got[name] = []string{}
		for dep := range svc.DependsOn {
			got[name] = append(got[name], dep)
		}
		slices.Sort(got[name])
	}
	want := map[string][]string{
		"exporter":     {"influxdb"},
		"influxdb":     {},
		"prometheus":   {},
		"alertmanager": {},
		"grafana":      {"alertmanager", "influxdb", "prometheus"},
	}
	for name, deps := range want {
		if !slices.Equal(got[name], deps) {
			t.Errorf("%s depends on %v, want %v", name, got[name], deps)
		}
	}
}

// TestComposeStreamPortShowsNothing runs the shipped config.toml with the
// exporter's environment from the compose file: a stranger's GET of the
// status page, its JSON, the metrics or a reload on the stream port gets
// 404 or 401, and a batch with the token is acknowledged.
func TestComposeStreamPortShowsNothing(t *testing.T) {
	env := map[string]string{}
	for k, v := range loadCompose(t).Services["exporter"].Environment {
		if v != nil && !strings.HasPrefix(*v, "/") { // no container paths here
			env[k] = *v
		}
	}
	if env["FLESPI_EXPORTER_TOKEN"] == "" {
		t.Fatal("the compose file sets no FLESPI_EXPORTER_TOKEN")
	}
	ex := testexporter.StartInProcess(t, testexporter.Options{Env: env})
	for _, path := range []string{"/", "/api/status", "/metrics", "/-/reload", "/-/ready"} {
		for _, method := range []string{"GET", "POST"} {
			req, _ := http.NewRequest(method, ex.URL+path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if (resp.StatusCode != 404 && resp.StatusCode != 401) || strings.Contains(string(body), "flespi_") {
				t.Errorf("%s %s on the stream port: %d %.80q", method, path, resp.StatusCode, body)
			}
		}
	}
	auth := map[string]string{"Authorization": "Bearer " + env["FLESPI_EXPORTER_TOKEN"]}
	if code, answer := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), auth); code != 200 {
		t.Errorf("a batch with the token: %d %s", code, answer)
	}
	if code, _ := testexporter.Post(t, ex.URL+"/flespi", testexporter.Samples(t), nil); code != 401 {
		t.Errorf("a batch without the token: %d, want 401", code)
	}
}

// TestComposeEnvironment: every variable the compose file and the Grafana
// provisioning use is in .env.example, and .env.example holds no real secret.
func TestComposeEnvironment(t *testing.T) {
	example := envExample(t)
	compose, err := os.ReadFile("../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variables(string(compose)) {
		if _, ok := example[v]; !ok {
			t.Errorf("docker-compose.yml uses ${%s}, missing from .env.example", v)
		}
	}
	for k, v := range example {
		if strings.Contains(k, "PASSWORD") || strings.Contains(k, "TOKEN") {
			if v != "" && !strings.HasPrefix(v, "change-me") { // empty: a source left off
				t.Errorf(".env.example sets %s to a value that looks real; use change-me-...", k)
			}
		}
	}
	// The datasources read ${VAR} from Grafana's environment.
	grafana := loadCompose(t).Services["grafana"]
	provisioning, err := os.ReadFile("provisioning/datasources/datasources.yml")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range variables(string(provisioning)) {
		if _, ok := grafana.Environment[v]; !ok {
			t.Errorf("datasources.yml uses ${%s}, not in the grafana service's environment", v)
		}
	}
}

var varRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)`)

func variables(text string) []string {
	var out []string
	for _, m := range varRef.FindAllStringSubmatch(text, -1) {
		if !slices.Contains(out, m[1]) {
			out = append(out, m[1])
		}
	}
	return out
}

func envExample(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("../.env.example")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if k, v, ok := strings.Cut(line, "="); ok && !strings.HasPrefix(line, "#") {
			out[k] = v
		}
	}
	return out
}

// TestPrometheusRuleFilesMounted: Prometheus in the stack finds the rule
// files next to its configuration.
func TestPrometheusRuleFilesMounted(t *testing.T) {
	project := loadCompose(t)
	var targets []string
	for _, v := range project.Services["prometheus"].Volumes {
		targets = append(targets, v.Target)
	}
	var cfg struct {
		RuleFiles []string `yaml:"rule_files"`
	}
	readYAML(t, "prometheus/prometheus.yml", &cfg)
	for _, f := range cfg.RuleFiles {
		if !slices.Contains(targets, filepath.Join("/etc/prometheus", f)) {
			t.Errorf("prometheus.yml loads %s, which the compose file does not mount", f)
		}
	}
}

func readYAML(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// provisioned returns the datasource uids by type, and the dashboards path.
func provisioned(t *testing.T) (map[string]string, string) {
	t.Helper()
	var ds struct {
		Datasources []struct {
			UID  string `yaml:"uid"`
			Type string `yaml:"type"`
		} `yaml:"datasources"`
	}
	readYAML(t, "provisioning/datasources/datasources.yml", &ds)
	uids := map[string]string{}
	for _, d := range ds.Datasources {
		if d.UID == "" {
			t.Errorf("datasource of type %s has no fixed uid", d.Type)
		}
		uids[d.UID] = d.Type
	}
	var dash struct {
		Providers []struct {
			Options struct {
				Path string `yaml:"path"`
			} `yaml:"options"`
		} `yaml:"providers"`
	}
	readYAML(t, "provisioning/dashboards/dashboards.yml", &dash)
	if len(dash.Providers) != 1 {
		t.Fatalf("want one dashboard provider, got %d", len(dash.Providers))
	}
	return uids, dash.Providers[0].Options.Path
}

// TestProvisioning: the dashboards name provisioned datasource uids only
// (no ${DS_...} import placeholders), and Grafana finds the dashboards where
// the compose file mounts them.
func TestProvisioning(t *testing.T) {
	uids, path := provisioned(t)
	for _, typ := range []string{"influxdb", "prometheus", "alertmanager"} {
		found := false
		for _, ty := range uids {
			found = found || ty == typ
		}
		if !found {
			t.Errorf("no %s datasource provisioned", typ)
		}
	}
	mounted := false
	for _, v := range loadCompose(t).Services["grafana"].Volumes {
		mounted = mounted || (v.Target == path && strings.HasSuffix(v.Source, filepath.Join("grafana", "dashboards")))
	}
	if !mounted {
		t.Errorf("the dashboard provider reads %s, where the compose file mounts no grafana/dashboards", path)
	}
	for _, file := range dashboardtest.Files(t) {
		raw, _ := os.ReadFile(file)
		if strings.Contains(string(raw), "${DS_") {
			t.Errorf("%s has ${DS_...} placeholders", file)
		}
		for _, ref := range datasourceRefs(t, file) {
			if typ, ok := uids[ref.UID]; !ok || typ != ref.Type {
				t.Errorf("%s: %s uses datasource %s/%s, not provisioned", file, ref.where, ref.Type, ref.UID)
			}
		}
	}
}

type dsRef struct {
	Type, UID string
	where     string
}

// datasourceRefs lists every datasource a dashboard names, in panels,
// targets and variables.
func datasourceRefs(t *testing.T, file string) []dsRef {
	t.Helper()
	d := dashboardtest.Read(t, file)
	var refs []dsRef
	for _, p := range d.Panels {
		if p.Datasource != nil {
			refs = append(refs, dsRef{p.Datasource.Type, p.Datasource.UID, "panel " + p.Title})
		}
		for _, tg := range p.Targets {
			if tg.Datasource == nil {
				t.Errorf("%s: a target of panel %q names no datasource", file, p.Title)
				continue
			}
			refs = append(refs, dsRef{tg.Datasource.Type, tg.Datasource.UID, "panel " + p.Title + " target " + tg.RefID})
		}
	}
	for _, v := range d.Templating.List {
		if v.Datasource != nil {
			refs = append(refs, dsRef{v.Datasource.Type, v.Datasource.UID, "variable " + v.Name})
		}
	}
	return refs
}

// TestComposeLeastPrivilege: the exporter and Grafana each get a token of
// their own from InfluxDB's first start, write-only and read-only, on a
// volume they mount read-only; the admin token (INFLUXDB_TOKEN) reaches
// neither.
func TestComposeLeastPrivilege(t *testing.T) {
	project := loadCompose(t)
	influx, exporter, grafana := project.Services["influxdb"], project.Services["exporter"], project.Services["grafana"]
	mounts := func(svc types.ServiceConfig, target string) (readOnly, ok bool) {
		for _, v := range svc.Volumes {
			if v.Target == target {
				return v.ReadOnly, true
			}
		}
		return false, false
	}
	if ro, ok := mounts(influx, "/docker-entrypoint-initdb.d"); !ok || !ro {
		t.Error("influxdb does not run deploy/influxdb-init at its first start")
	}
	if ro, ok := mounts(influx, "/tokens"); !ok || ro {
		t.Error("influxdb cannot write the tokens volume")
	}
	for _, svc := range []types.ServiceConfig{exporter, grafana} {
		if ro, ok := mounts(svc, "/tokens"); !ok || !ro {
			t.Errorf("%s does not mount the tokens read-only", svc.Name)
		}
		if v, ok := svc.Environment["INFLUXDB_TOKEN"]; ok && v != nil && *v != "" {
			t.Errorf("%s gets the admin token INFLUXDB_TOKEN", svc.Name)
		}
	}
	if v := exporter.Environment["INFLUXDB_TOKEN_FILE"]; v == nil || *v != "/tokens/exporter.token" {
		t.Errorf("the exporter's INFLUXDB_TOKEN_FILE is %v, want /tokens/exporter.token", v)
	}
	ds, err := os.ReadFile("provisioning/datasources/datasources.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(ds), "Token $__file{/tokens/grafana.token}") {
		t.Error("Grafana's InfluxDB datasource does not read the read-only token")
	}
	if !strings.Contains(strings.Join(influx.HealthCheck.Test, " "), "/tokens/exporter.token") {
		t.Error("influxdb is healthy before the tokens are written: the exporter would start without one")
	}
}

// TestTokensScript runs deploy/influxdb-init/10-tokens.sh with a stand-in
// influx CLI that records its calls (InfluxDB 2 cannot run here): one
// token that may write the bucket and one that may read it, distinct,
// written where the exporter and Grafana read them, and no other right
// asked for.
func TestTokensScript(t *testing.T) {
	dir := t.TempDir()
	calls := filepath.Join(dir, "calls")
	fake := `#!/bin/sh
echo "$*" >> ` + calls + `
case "$1 $2" in
"bucket list") printf '0a1b2c3d4e5f6789\tflespi\t90d\n' ;;
"auth create") case "$*" in *--write-bucket*) t=write-token-1 ;; *) t=read-token-2 ;; esac
  printf '{\n  "id": "x",\n  "token": "%s",\n  "status": "active"\n}\n' "$t" ;;
*) exit 1 ;;
esac
`
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "influx"), []byte(fake), 0o755); err != nil {
		t.Fatal(err)
	}
	tokens := filepath.Join(dir, "tokens")
	cmd := exec.Command("sh", "../deploy/influxdb-init/10-tokens.sh")
	cmd.Env = append(os.Environ(), "PATH="+bin+":"+os.Getenv("PATH"), "DOCKER_INFLUXDB_INIT_ORG=flespi",
		"DOCKER_INFLUXDB_INIT_BUCKET=flespi", "FLESPI_TOKENS_DIR="+tokens)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("10-tokens.sh: %v\n%s", err, out)
	}
	for file, want := range map[string]string{"exporter.token": "write-token-1\n", "grafana.token": "read-token-2\n"} {
		if got, err := os.ReadFile(filepath.Join(tokens, file)); err != nil || string(got) != want {
			t.Errorf("%s: %q %v, want %q", file, got, err, want)
		}
	}
	log, _ := os.ReadFile(calls)
	got := strings.Split(strings.TrimSpace(string(log)), "\n")
	if len(got) != 3 || !strings.Contains(got[1], "auth create --org flespi --write-bucket 0a1b2c3d4e5f6789") ||
		!strings.Contains(got[2], "auth create --org flespi --read-bucket 0a1b2c3d4e5f6789") ||
		strings.Contains(string(log), "--all-access") || strings.Contains(string(log), "operator") {
		t.Errorf("influx was asked:\n%s", log)
	}
}
