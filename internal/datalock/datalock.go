// Package datalock keeps one process at a time on a data directory: the
// exporter, or an import running alone. The device registry has one
// writer: two would overwrite each other's saves, and a device registered
// by one would vanish with the other's next save.
package datalock

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
)

// FileName is the lock's file in the data directory.
const FileName = "exporter.lock"

// ErrHeld is a data directory another process holds.
var ErrHeld = errors.New("another process holds the data directory")

// Take locks dir (creating it) until release is called or the process
// ends (the kernel lets go of the lock of a killed process). An error
// wrapping ErrHeld names the holder's process id where it can.
func Take(dir string) (release func(), err error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, err
	}
	path := filepath.Join(dir, FileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s, process %s)", ErrHeld, path, strings.TrimSpace(string(holder)))
		}
		return nil, fmt.Errorf("locking %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = fmt.Fprintf(f, "%d\n", os.Getpid())
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
