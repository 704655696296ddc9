// Package testinflux runs a real InfluxDB OSS 1.8 server for tests: on free
// loopback ports, in temporary directories, stopped when the test ends.
// scripts/install-test-deps.sh builds the influxd binary it needs.
package testinflux

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// The database the server is created with, and how the exporter names it
// through the v2 write API of InfluxDB 1.8.
const (
	Database = "db"
	Bucket   = "db/autogen"
	Token    = "user:pass" // auth is off (Start): any token is accepted; StartWithAuth: this one only
)

// Server is a running influxd.
type Server struct {
	URL  string // http://127.0.0.1:port
	t    tb.T
	bin  string
	dir  string
	conf string
	cmd  *exec.Cmd
	log  *os.File
	auth bool // queries carry Token's user and password
}

// Binary finds influxd: $INFLUXD, then the PATH, then $(go env GOPATH)/bin.
func Binary() (string, error) {
	if p := os.Getenv("INFLUXD"); p != "" {
		return p, nil
	}
	if p, err := exec.LookPath("influxd"); err == nil {
		return p, nil
	}
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		out, err := exec.Command("go", "env", "GOPATH").Output()
		if err != nil {
			return "", err
		}
		gopath = strings.TrimSpace(string(out))
	}
	p := filepath.Join(gopath, "bin", "influxd")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("influxd not found: run scripts/install-test-deps.sh (it builds InfluxDB 1.8.10 with go install)")
	}
	return p, nil
}

// Start runs a fresh influxd with the database created; it is stopped by
// t.Cleanup. A test that needs InfluxDB fails, never skips, without it.
func Start(t tb.T) *Server {
	t.Helper()
	return start(t, false)
}

// StartWithAuth is Start with authentication on: only Token is accepted
// (a wrong token is answered 401, as InfluxDB 2 answers a wrong one).
func StartWithAuth(t tb.T) *Server {
	t.Helper()
	return start(t, true)
}

func start(t tb.T, auth bool) *Server {
	t.Helper()
	bin, dir := tb.Tool(t, Binary)
	httpAddr, rpcAddr := tb.FreeAddr(t), tb.FreeAddr(t)
	s := &Server{
		URL:  "http://" + httpAddr,
		t:    t,
		bin:  bin,
		dir:  dir,
		conf: filepath.Join(dir, "influxdb.conf"),
	}
	conf := fmt.Sprintf(`reporting-disabled = true
bind-address = "%s"
[meta]
  dir = "%[2]s/meta"
[data]
  dir = "%[2]s/data"
  wal-dir = "%[2]s/wal"
  query-log-enabled = false
[http]
  bind-address = "%[3]s"
  auth-enabled = %[4]t
  log-enabled = false
  flux-enabled = true
[logging]
  level = "warn"
[monitor]
  store-enabled = false
[continuous_queries]
  enabled = false
`, rpcAddr, dir, httpAddr, auth)
	if err := os.WriteFile(s.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	s.Restart()
	if auth {
		// The first user may be created without credentials.
		user, pass, _ := strings.Cut(Token, ":")
		s.Query(fmt.Sprintf("CREATE USER \"%s\" WITH PASSWORD '%s' WITH ALL PRIVILEGES", user, pass))
		s.auth = true
	}
	s.Query("CREATE DATABASE " + Database)
	t.Cleanup(s.Stop)
	return s
}

// Restart starts influxd again after Stop, on the same port and data.
func (s *Server) Restart() {
	s.t.Helper()
	log, err := os.OpenFile(filepath.Join(s.dir, "influxd.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		s.t.Fatal(err)
	}
	s.log = log
	s.cmd = exec.Command(s.bin, "run", "-config", s.conf)
	s.cmd.Stdout, s.cmd.Stderr = log, log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get(s.URL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusNoContent {
				return
			}
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("influxd did not start within a minute; its log:\n%s", s.Log())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Stop ends influxd (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
	s.cmd = nil
	s.log.Close()
}

// Log returns what influxd wrote.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "influxd.log"))
	return string(b)
}

// Series is one series of a query result.
type Series struct {
	Name    string            `json:"name"`
	Tags    map[string]string `json:"tags"`
	Columns []string          `json:"columns"`
	Values  [][]any           `json:"values"`
}

// Query runs InfluxQL against the test database, with times in
// nanoseconds and numbers as json.Number, and returns the series of its
// first statement.
func (s *Server) Query(q string) []Series {
	s.t.Helper()
	form := url.Values{"q": {q}, "db": {Database}, "epoch": {"ns"}}
	req, err := http.NewRequest(http.MethodPost, s.URL+"/query", strings.NewReader(form.Encode()))
	if err != nil {
		s.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if s.auth {
		user, pass, _ := strings.Cut(Token, ":")
		req.SetBasicAuth(user, pass)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatalf("query %q: %v", q, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var out struct {
		Results []struct {
			Series []Series `json:"series"`
			Error  string   `json:"error"`
		} `json:"results"`
		Error string `json:"error"`
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		s.t.Fatalf("query %q: %s: %s", q, resp.Status, body)
	}
	if out.Error != "" || (len(out.Results) > 0 && out.Results[0].Error != "") {
		s.t.Fatalf("query %q: %s", q, body)
	}
	if len(out.Results) == 0 {
		return nil
	}
	return out.Results[0].Series
}

// Count returns the number of points of a measurement, counting one field
// that every point has.
func (s *Server) Count(measurement, field string) int {
	s.t.Helper()
	series := s.Query(fmt.Sprintf(`SELECT COUNT(%q) FROM %q`, field, measurement))
	if len(series) == 0 || len(series[0].Values) == 0 {
		return 0
	}
	n, err := series[0].Values[0][1].(json.Number).Int64()
	if err != nil {
		s.t.Fatal(err)
	}
	return int(n)
}
