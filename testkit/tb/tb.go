// Package tb lets the test servers (testinflux, testprom, testexporter) run
// from tests and from commands alike: they need a T, which *testing.T is,
// and which Main gives a command such as flespi-bench.
package tb

import (
	dto "github.com/prometheus/client_model/go"

	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
)

// T is what the test servers need of their caller.
type T interface {
	Helper()
	Fatal(args ...any)
	Fatalf(format string, args ...any)
	Cleanup(func())
	TempDir() string
}

// Command is a T for a command: Fatal prints, cleans up and exits 1.
type Command struct {
	cleanups []func()
	dirs     []string
}

var _ T = (*Command)(nil)

// Helper does nothing: there is no test report to trim.
func (c *Command) Helper() {}

// Fatal prints args, runs the cleanups and exits with status 1.
func (c *Command) Fatal(args ...any) {
	fmt.Fprintln(os.Stderr, args...)
	c.Close()
	os.Exit(1)
}

// Fatalf is Fatal with a format.
func (c *Command) Fatalf(format string, args ...any) { c.Fatal(fmt.Sprintf(format, args...)) }

// Cleanup registers f to run at Close, last registered first.
func (c *Command) Cleanup(f func()) { c.cleanups = append(c.cleanups, f) }

// TempDir makes a directory that Close removes.
func (c *Command) TempDir() string {
	dir, err := os.MkdirTemp("", "flespi-bench")
	if err != nil {
		c.Fatal(err)
	}
	c.dirs = append(c.dirs, dir)
	return dir
}

// Close runs the cleanups and removes the temporary directories.
func (c *Command) Close() {
	for i := len(c.cleanups) - 1; i >= 0; i-- {
		c.cleanups[i]()
	}
	c.cleanups = nil
	for _, d := range c.dirs {
		os.RemoveAll(d)
	}
	c.dirs = nil
}

// FreeAddr returns a loopback host:port that was free a moment ago, and
// that it has not returned before in this process: the kernel may hand
// out a port just closed again, and two listeners of one server (a
// broker's plain and TLS ports) then got the same one.
func FreeAddr(t T) string {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		if _, taken := handedOut.LoadOrStore(addr, true); !taken {
			return addr
		}
	}
	t.Fatal("no free loopback port that was not handed out already")
	return ""
}

// handedOut are the addresses FreeAddr returned.
var handedOut sync.Map

// Buffer collects what a process or a logger writes while a test reads it:
// a strings.Builder behind a lock.
type Buffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Kill ends *cmd's process with SIGKILL, waits for it, and forgets it (a
// second Kill does nothing).
func Kill(cmd **exec.Cmd) {
	if *cmd == nil {
		return
	}
	_ = (*cmd).Process.Kill()
	_ = (*cmd).Wait()
	*cmd = nil
}

// Tool finds a program with find (failing the test with its error, which
// says how to install it) and gives it a temporary directory.
func Tool(t T, find func() (string, error)) (bin, dir string) {
	t.Helper()
	bin, err := find()
	if err != nil {
		t.Fatal(err)
	}
	return bin, t.TempDir()
}

// CounterValue is the value of the counter name in reg (its first
// series); the test fails without it.
func CounterValue(t T, reg interface {
	Gather() ([]*dto.MetricFamily, error)
}, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}
