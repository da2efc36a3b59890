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

// writeNAR writes the NAR serialisation of path to w. Entries are sorted
// bytewise (os.ReadDir sorts by name), regular files record whether the owner
// may execute them, symlinks record their target.
func writeNAR(w *bufio.Writer, path string) error {
	nw := narWriter{w: w}
	nw.str("nix-archive-1")
	if err := nw.node(path); err != nil {
		return err
	}
	return nw.err
}

type narWriter struct {
	w   *bufio.Writer
	err error
}

func (nw *narWriter) node(path string) error {
	info, err := os.Lstat(path)
	if err != nil {
		return err
	}
	nw.str("(")
	switch mode := info.Mode(); {
	case mode&os.ModeSymlink != 0:
		target, err := os.Readlink(path)
		if err != nil {
			return err
		}
		nw.str("type")
		nw.str("symlink")
		nw.str("target")
		nw.str(target)
	case mode.IsDir():
		entries, err := os.ReadDir(path)
		if err != nil {
			return err
		}
		nw.str("type")
		nw.str("directory")
		for _, entry := range entries {
			nw.str("entry")
			nw.str("(")
			nw.str("name")
			nw.str(entry.Name())
			nw.str("node")
			if err := nw.node(filepath.Join(path, entry.Name())); err != nil {
				return err
			}
			nw.str(")")
		}
	case mode.IsRegular():
		nw.str("type")
		nw.str("regular")
		if mode&0o100 != 0 {
			nw.str("executable")
			nw.str("")
		}
		nw.str("contents")
		if err := nw.contents(path, info.Size()); err != nil {
			return err
		}
	default:
		return fmt.Errorf("%s: a NAR cannot hold a %s", path, mode.Type())
	}
	nw.str(")")
	return nw.err
}

func (nw *narWriter) contents(path string, size int64) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	nw.uint64(uint64(size))
	n, err := io.Copy(nw.w, f)
	if err != nil {
		return err
	}
	if n != size {
		return fmt.Errorf("%s changed while hashing (read %d bytes, expected %d)", path, n, size)
	}
	nw.pad(size)
	return nil
}

func (nw *narWriter) str(s string) {
	nw.uint64(uint64(len(s)))
	if nw.err == nil {
		_, nw.err = nw.w.WriteString(s)
	}
	nw.pad(int64(len(s)))
}

func (nw *narWriter) uint64(n uint64) {
	if nw.err != nil {
		return
	}
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], n)
	_, nw.err = nw.w.Write(b[:])
}

func (nw *narWriter) pad(n int64) {
	if rem := n % 8; rem != 0 && nw.err == nil {
		var zero [8]byte
		_, nw.err = nw.w.Write(zero[:8-rem])
	}
}
