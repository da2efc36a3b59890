package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// narHash returns the SRI sha256 of the NAR serialisation of path: the value
// Nix records for a fixed-output derivation with outputHashMode = "recursive",
// which is what buildGoModule's vendorHash is.
//
// The serialiser is written here rather than taken from go-nix's pkg/nar,
// whose DumpPath rejects entry names that begin with ".." (such as "..x").
func narHash(path string) (string, error) {
	h := sha256.New()
	w := bufio.NewWriterSize(h, 64<<10)
	if err := writeNAR(w, path); err != nil {
		return "", err
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return "sha256-" + base64.StdEncoding.EncodeToString(h.Sum(nil)), nil
}

// writeNAR writes the NAR serialisation of path to w: strings are
// length-prefixed and padded to 8 bytes, directory entries are sorted
// bytewise (os.ReadDir sorts by name), regular files record whether the
// owner may execute them, symlinks record their target.
func writeNAR(w *bufio.Writer, path string) error {
	str(w, "nix-archive-1")
	return narNode(w, path)
}

func narNode(w *bufio.Writer, path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	str(w, "(")
	switch mode := info.Mode(); {
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		str(w, "type", "symlink", "target", target)
	case mode.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		str(w, "type", "directory")
		for _, e := range entries {
			str(w, "entry", "(", "name", e.Name(), "node")
			if err := narNode(w, filepath.Join(path, e.Name())); err != nil {
				return err
			}
			str(w, ")")
		}
	case mode.IsRegular():
		str(w, "type", "regular")
		if mode&0o100 != 0 {
			str(w, "executable", "")
		}
		str(w, "contents")
		if err := contents(w, path, info.Size()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: a NAR cannot hold a %s", path, mode.Type())
	}
	str(w, ")")
	return nil
}

func contents(w *bufio.Writer, path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_ = binary.Write(w, binary.LittleEndian, uint64(size))
	if n, err := io.Copy(w, f); err != nil {
		return err
	} else if n != size {
		return fmt.Errorf("%s changed while hashing (read %d bytes, expected %d)", path, n, size)
	}
	pad(w, size)
	return nil
}

// str writes each s as a NAR string. Write errors are not checked here:
// a bufio.Writer keeps the first one and returns it from Flush.
func str(w *bufio.Writer, ss ...string) {
	for _, s := range ss {
		_ = binary.Write(w, binary.LittleEndian, uint64(len(s)))
		_, _ = w.WriteString(s)
		pad(w, int64(len(s)))
	}
}

func pad(w *bufio.Writer, n int64) {
	var zero [8]byte
	_, _ = w.Write(zero[:(8-n%8)%8])
}
