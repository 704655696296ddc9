// Package atomicfile replaces a file whole or not at all: the state files
// of the data directory (the device registry, the fleet events' state)
// must never be found half written after a kill or a power cut.
package atomicfile

import (
	"os"
	"path/filepath"
)

// Write replaces path with data: a temporary file, synced, renamed, and
// the directory synced so that the rename survives a power cut.
func Write(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // after a successful rename there is nothing to remove
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	dir, err := os.Open(filepath.Dir(path))
	if err != nil {
		return err
	}
	defer dir.Close()
	return dir.Sync()
}
