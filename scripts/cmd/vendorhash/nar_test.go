package main

import (
	"bufio"
	"bytes"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"scripts/internal/testkit"
)

// oddTree builds a tree with everything a NAR encodes: nested and empty
// directories, executables, symlinks (relative, absolute, dangling), empty
// and unaligned files, and names that need care (spaces, unicode, a leading
// "..", upper case that sorts before lower case bytewise).
func oddTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "tree")
	files := map[string]string{
		"nested/a/b/c/deep.txt": "deep\n",
		"with space.txt":        "space",
		"ünïcødé.txt":           "unicode",
		"..x":                   "leading dots",
		".hidden":               "hidden",
		"B":                     "upper B",
		"a":                     "lower a",
		"Z":                     "upper Z",
		"_":                     "underscore",
		"-dash":                 "dash",
		"a.b":                   "dot",
		"a-b":                   "hyphen",
		"empty-file":            "",
		"eight":                 "12345678",
		"nine":                  "123456789",
	}
	for name, content := range files {
		path := filepath.Join(root, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	big := make([]byte, 70001)
	rand.New(rand.NewSource(1)).Read(big)
	mustWrite(t, filepath.Join(root, "nested", "big.bin"), big, 0o644)
	mustWrite(t, filepath.Join(root, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755)
	mustWrite(t, filepath.Join(root, "owner-exec-only"), []byte("x"), 0o700)
	mustWrite(t, filepath.Join(root, "group-exec-only"), []byte("x"), 0o654)
	for _, dir := range []string{"empty-dir", "nested/empty"} {
		if err := os.MkdirAll(filepath.Join(root, dir), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for link, target := range map[string]string{
		"link-relative":   "nested/a",
		"link-absolute":   "/etc/hostname",
		"link-dangling":   "does/not/exist",
		"nested/link-up":  "../with space.txt",
		"link to unicode": "ünïcødé.txt",
	} {
		if err := os.Symlink(target, filepath.Join(root, link)); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func mustWrite(t *testing.T, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask-proof
		t.Fatal(err)
	}
}

func TestNARHashMatchesNix(t *testing.T) {
	root := oddTree(t)
	cases := map[string]string{
		"whole tree":        root,
		"empty directory":   filepath.Join(root, "empty-dir"),
		"single file":       filepath.Join(root, "nine"),
		"executable file":   filepath.Join(root, "run.sh"),
		"symlink":           filepath.Join(root, "link-relative"),
		"nested directory":  filepath.Join(root, "nested"),
		"file with unicode": filepath.Join(root, "ünïcødé.txt"),
	}
	for name, path := range cases {
		t.Run(name, func(t *testing.T) {
			got, err := narHash(path)
			if err != nil {
				t.Fatal(err)
			}
			if want := nixHashPath(t, path); got != want {
				t.Errorf("narHash = %s, nix hash path = %s", got, want)
			}
			if want := nixHashLegacy(t, path); got != want {
				t.Errorf("narHash = %s, nix-hash --type sha256 = %s", got, want)
			}
		})
	}
}

// Byte-for-byte equality with nix-store --dump pinpoints any difference.
func TestNARBytesMatchNixStoreDump(t *testing.T) {
	testkit.RequireTool(t, "nix-store", installNix)
	root := oddTree(t)
	want, err := exec.Command("nix-store", "--dump", root).Output()
	if err != nil {
		t.Fatalf("nix-store --dump: %v", err)
	}
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := writeNAR(w, root); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	got := buf.Bytes()
	if !bytes.Equal(got, want) {
		i := 0
		for i < len(got) && i < len(want) && got[i] == want[i] {
			i++
		}
		t.Fatalf("NAR differs from nix-store --dump at byte %d (len %d vs %d): got %q, want %q",
			i, len(got), len(want), window(got, i), window(want, i))
	}
}

func window(b []byte, i int) []byte {
	end := min(i+48, len(b))
	return b[i:end]
}

func TestNARHashSeesExecutableBitAndSymlinkTarget(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f")
	mustWrite(t, file, []byte("same content"), 0o644)
	plain, err := narHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(file, 0o755); err != nil {
		t.Fatal(err)
	}
	executable, err := narHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if plain == executable {
		t.Error("making a file executable did not change the hash")
	}
	if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	one, err := narHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("g", filepath.Join(dir, "l")); err != nil {
		t.Fatal(err)
	}
	other, err := narHash(dir)
	if err != nil {
		t.Fatal(err)
	}
	if one == other {
		t.Error("changing a symlink's target did not change the hash")
	}
}

func TestNARRejectsSpecialFiles(t *testing.T) {
	testkit.RequireTool(t, "mkfifo", "coreutils")
	dir := t.TempDir()
	if err := exec.Command("mkfifo", filepath.Join(dir, "fifo")).Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := narHash(dir); err == nil {
		t.Error("narHash accepted a named pipe, which a NAR cannot hold")
	}
}
