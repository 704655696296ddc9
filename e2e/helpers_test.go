//go:build e2e

package e2e

import (
	"os/exec"
	"strings"
	"testing"
)

// promtoolCheck runs `promtool check metrics` over an exposition. promtool
// comes from Debian's prometheus package, which scripts/test.sh installs.
func promtoolCheck(t *testing.T, exposition string) {
	t.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run the tests with scripts/test.sh, which installs it")
	}
	cmd := exec.Command(path, "check", "metrics")
	cmd.Stdin = strings.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
}
