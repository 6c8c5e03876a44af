package atomicfile

import (
	"os"
	"path/filepath"
)

// WriteNew writes data to path with mode perm. path must not exist: a
// file that is there, or appears meanwhile, is never replaced (the error
// then satisfies errors.Is(err, fs.ErrExist)).
func WriteNew(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Link)
}

// Replace writes data to path with mode perm, replacing the file that may
// be there: a crash leaves the old file or the new one.
func Replace(path string, data []byte, perm os.FileMode) error {
	return write(path, data, perm, os.Rename)
}

// write writes data to a synced temporary file next to path, installs it
// as path with install, and syncs the folder.
func write(path string, data []byte, perm os.FileMode, install func(tmp, path string) error) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := install(tmp, path); err != nil {
		return err
	}
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
