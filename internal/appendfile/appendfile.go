// Package appendfile appends to a JSON-lines file (dead letters, rejected
// MQTT payloads) all or nothing.
package appendfile

import (
	"fmt"
	"os"
)

// File is what Append needs of a file opened for appending.
type File interface {
	Write([]byte) (int, error)
	Sync() error
	Stat() (os.FileInfo, error)
	Truncate(int64) error
}

// Append appends b and syncs, or leaves the file as it was: a write cut
// short (a full disk) would leave half a line, onto which the next entry
// is appended, and both are lost to a reader.
func Append(f File, b []byte) error {
	st, err := f.Stat()
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if err != nil {
		if terr := f.Truncate(st.Size()); terr != nil {
			return fmt.Errorf("%w; and cutting the file back to its last whole line failed: %v", err, terr)
		}
	}
	return err
}
