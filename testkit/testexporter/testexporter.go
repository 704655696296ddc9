// Package testexporter builds the flespi-exporter binary once per test run
// and runs it as a real process on a free loopback port, with the
// repository's config.toml, so that tests can kill and restart it.
package testexporter

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// root is the repository, found from this file.
func root() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

// override is a binary Binary returns instead of building one: another
// revision's, for flespi-bench -against.
var override atomic.Pointer[string]

// UseBinary makes Binary (and so Start) use path; "" builds again.
func UseBinary(path string) { override.Store(&path) }

// Binary builds cmd/flespi-exporter, once per test binary.
func Binary(t tb.T) string {
	t.Helper()
	if p := override.Load(); p != nil && *p != "" {
		return *p
	}
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "flespi-exporter-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "flespi-exporter")
		// The binary says the commit it was built from (flespi-exporter
		// version), as a release build's -X main.version does; a git
		// worktree has no VCS stamp of Go's own.
		args := []string{"build", "-o", binPath}
		if v, err := exec.Command("git", "-C", root(), "describe", "--tags", "--always", "--dirty").Output(); err == nil {
			args = append(args, "-ldflags", "-X main.version="+strings.TrimSpace(string(v)))
		}
		cmd := exec.Command("go", append(args, "./cmd/flespi-exporter")...)
		cmd.Dir = root()
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

// Process is the exporter binary running.
type Process struct {
	Addr         string // host:port of the stream listener
	InternalAddr string // host:port of the internal listener (/metrics, /-/ready)
	DataDir      string // the data directory (device registry), kept across Restart
	Cmd          *exec.Cmd
	t            tb.T
	env          []string
	config       string
	args         []string
	log          *tb.Buffer
}

// Start runs the binary with the repository's config.toml and the
// environment variables env (INFLUXDB_URL and the like);
// FLESPI_EXPORTER_LISTEN and FLESPI_EXPORTER_INTERNAL_LISTEN are set to
// free ports, FLESPI_EXPORTER_DATA_DIR to a temporary directory (env may
// override them); args are more arguments of serve (-cpuprofile). The process is killed when the test ends.
func Start(t tb.T, env map[string]string, args ...string) *Process {
	t.Helper()
	return StartConfig(t, filepath.Join(root(), "config.toml"), env, args...)
}

// StartConfig is Start with another configuration file.
func StartConfig(t tb.T, config string, env map[string]string, args ...string) *Process {
	t.Helper()
	p := &Process{t: t, Addr: tb.FreeAddr(t), InternalAddr: tb.FreeAddr(t), DataDir: t.TempDir(), log: &tb.Buffer{}, config: config, args: args}
	p.env = append(os.Environ(), "FLESPI_EXPORTER_LISTEN="+p.Addr, "FLESPI_EXPORTER_INTERNAL_LISTEN="+p.InternalAddr,
		"FLESPI_EXPORTER_DATA_DIR="+p.DataDir)
	for k, v := range env {
		p.env = append(p.env, k+"="+v)
	}
	p.Restart()
	t.Cleanup(p.Kill)
	return p
}

// Restart starts the process (again) and waits until it answers.
func (p *Process) Restart() {
	p.t.Helper()
	cmd := exec.Command(Binary(p.t), append([]string{"-config", p.config}, p.args...)...)
	cmd.Env = p.env
	cmd.Stdout, cmd.Stderr = p, p
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	p.Cmd = cmd
	deadline := time.Now().Add(20 * time.Second)
	for {
		if resp, err := http.Get("http://" + p.Addr + "/-/healthy"); err == nil {
			resp.Body.Close()
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the exporter did not start:\n%s", p.Log())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Kill ends the process with SIGKILL: no shutdown, in-flight work is lost.
func (p *Process) Kill() { tb.Kill(&p.Cmd) }

// Stop ends the process with SIGTERM, its graceful shutdown, and waits
// for it.
func (p *Process) Stop() error {
	if p.Cmd == nil {
		return nil
	}
	_ = p.Cmd.Process.Signal(syscall.SIGTERM)
	return p.Wait()
}

// Wait waits for the process to exit by itself.
func (p *Process) Wait() error {
	err := p.Cmd.Wait()
	p.Cmd = nil
	return err
}

// Write collects the process output (it is the process' stdout and stderr).
func (p *Process) Write(b []byte) (int, error) { return p.log.Write(b) }

// Log returns what the process wrote.
func (p *Process) Log() string { return p.log.String() }
