package testmqtt

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flespi-exporter/flespi-exporter/testkit/tb"
)

// ejabberd is the second broker: Debian's ejabberd with mod_mqtt (MQTT 5),
// an implementation unlike mosquitto's. It keeps one QoS 1 message in
// flight per session: the next comes only once the last is acknowledged,
// which is what a source that waits for a batch to fill cannot bear.

// EjabberdBinary finds ejabberdctl; a test that needs it fails, never
// skips, without it.
func EjabberdBinary() (string, error) {
	for _, p := range []string{"ejabberdctl", "/usr/sbin/ejabberdctl"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("ejabberdctl not found: run scripts/install-test-deps.sh (it installs Debian's ejabberd)")
}

// StartEjabberd runs an ejabberd that accepts token (as user and password)
// on a plain and a TLS MQTT listener; it is stopped when the test ends.
// It needs no epmd (the node's distribution port is given) and runs as the
// current user (Debian's ejabberdctl would switch to the ejabberd user,
// who cannot read the test's directory).
func StartEjabberd(t tb.T, token string) *Broker {
	t.Helper()
	bin, dir := tb.Tool(t, EjabberdBinary)
	b := &Broker{t: t, dir: dir, Token: token}
	addr, tlsAddr := tb.FreeAddr(t), tb.FreeAddr(t)
	b.URL, b.TLSURL = "mqtt://"+addr, "mqtts://"+tlsAddr
	cert, key, _ := tb.SelfSigned(t, dir)
	b.CAFile = cert
	e := &ejabberd{dir: dir, node: fmt.Sprintf("mqtt%d-%d@localhost", os.Getpid(), nodes.Add(1)), distPort: port(tb.FreeAddr(t))}
	e.ctl = filepath.Join(dir, "ejabberdctl")
	if err := e.writeFiles(bin, addr, tlsAddr, cert, key); err != nil {
		t.Fatal(err)
	}
	b.ej = e
	b.startEjabberd()
	if out, err := e.command("register", token, "localhost", token).CombinedOutput(); err != nil {
		t.Fatalf("ejabberdctl register: %v\n%s", err, out)
	}
	t.Cleanup(b.Stop)
	return b
}

// nodes numbers the ejabberd nodes of this process: each has its own name.
var nodes atomic.Int64

type ejabberd struct {
	dir, node, ctl string
	distPort       string
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// writeFiles writes the configuration and a copy of ejabberdctl that runs
// as the current user.
func (e *ejabberd) writeFiles(bin, addr, tlsAddr, cert, key string) error {
	script, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	script = bytes.Replace(script, []byte("\nINSTALLUSER=ejabberd\n"), []byte("\nINSTALLUSER=\n"), 1)
	if err := os.WriteFile(e.ctl, script, 0o755); err != nil {
		return err
	}
	host, plainPort, _ := net.SplitHostPort(addr)
	conf := fmt.Sprintf(`hosts:
  - localhost
loglevel: warning
certfiles:
  - %[1]s
  - %[2]s
listen:
  - port: %[3]s
    ip: "%[4]s"
    module: mod_mqtt
  - port: %[5]s
    ip: "%[4]s"
    module: mod_mqtt
    tls: true
auth_method: internal
acl:
  local:
    user_regexp: ""
access_rules:
  local:
    allow: local
modules:
  mod_mqtt:
    access_subscribe:
      "#": local
    access_publish:
      "#": local
`, cert, key, plainPort, host, port(tlsAddr))
	for _, d := range []string{"spool", "logs"} {
		if err := os.MkdirAll(filepath.Join(e.dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(e.dir, "ejabberdctl.cfg"), nil, 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(e.dir, "ejabberd.yml"), []byte(conf), 0o644)
}

// command is ejabberdctl with this node's files and arguments.
func (e *ejabberd) command(args ...string) *exec.Cmd {
	all := append([]string{
		"--config-dir", e.dir, "--config", filepath.Join(e.dir, "ejabberd.yml"),
		"--ctl-config", filepath.Join(e.dir, "ejabberdctl.cfg"),
		"--spool", filepath.Join(e.dir, "spool"), "--logs", filepath.Join(e.dir, "logs"),
		"--node", e.node,
	}, args...)
	cmd := exec.Command(e.ctl, all...)
	cmd.Env = append(os.Environ(), "ERL_DIST_PORT="+e.distPort, "HOME="+e.dir)
	return cmd
}

// startEjabberd starts the node in the foreground (its own process group,
// so that Stop ends the Erlang VM under the script too) and waits for the
// MQTT listener.
func (b *Broker) startEjabberd() {
	b.t.Helper()
	var out bytes.Buffer
	cmd := b.ej.command("foreground")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.t.Fatal(err)
	}
	b.cmd = cmd
	addr := strings.TrimPrefix(b.URL, "mqtt://")
	deadline := time.Now().Add(30 * time.Second)
	for {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			b.Stop()
			b.t.Fatalf("ejabberd did not start:\n%s", out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
