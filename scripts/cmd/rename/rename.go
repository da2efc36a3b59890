package main

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
)

// execName is the name go install gives the root package's binary: the
// module path's last element, skipping a /vN major-version suffix (cmd/go's
// load.DefaultExecName).
func execName(modulePath string) string {
	if prefix, major, ok := module.SplitPathVersion(modulePath); ok && strings.HasPrefix(major, "/") {
		modulePath = prefix
	}
	return path.Base(modulePath)
}

// rename computes every file's new content first and writes only when all
// edits apply, so a file it cannot edit changes nothing.
func rename(root string, n names) ([]string, error) {
	files := map[string][]byte{}
	read := func(name string) ([]byte, error) {
		if b, ok := files[name]; ok {
			return b, nil
		}
		return os.ReadFile(filepath.Join(root, name))
	}
	edit := func(name string, f func([]byte) ([]byte, error)) error {
		b, err := read(name)
		if err != nil {
			return err
		}
		out, err := f(b)
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		files[name] = out
		return nil
	}

	if err := edit("fly.toml", func(b []byte) ([]byte, error) { return setFlyToml(b, n) }); err != nil {
		return nil, err
	}
	gomod, err := read("go.mod")
	if err != nil {
		return nil, err
	}
	oldModule := modfile.ModulePath(gomod)
	if oldModule == "" {
		return nil, fmt.Errorf("go.mod has no module line")
	}
	if err := renameModules(root, oldModule, n.Module, edit); err != nil {
		return nil, err
	}
	if oldBinary := execName(oldModule); oldBinary != n.Binary {
		if err := renameBinary(root, oldBinary, n.Binary, edit, read); err != nil {
			return nil, err
		}
	}

	var changed []string
	for name, b := range files {
		old, err := os.ReadFile(filepath.Join(root, name))
		if err != nil || bytes.Equal(old, b) {
			continue
		}
		changed = append(changed, name)
	}
	sort.Strings(changed)
	for _, name := range changed {
		full := filepath.Join(root, name)
		info, err := os.Stat(full)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, files[name], info.Mode().Perm()); err != nil {
			return nil, err
		}
	}
	return changed, nil
}

var (
	flyApp    = regexp.MustCompile(`(?m)^app\s*=\s*("[^"\n]*"|'[^'\n]*')`)
	flyRegion = regexp.MustCompile(`(?m)^primary_region\s*=\s*("[^"\n]*"|'[^'\n]*')`)
)

// setFlyToml sets the top-level app and primary_region, keeping comments.
func setFlyToml(b []byte, n names) ([]byte, error) {
	b, err := replaceValue(b, flyApp, "app", n.App)
	if err != nil || n.Region == "" {
		return b, err
	}
	return replaceValue(b, flyRegion, "primary_region", n.Region)
}

func replaceValue(b []byte, re *regexp.Regexp, key, value string) ([]byte, error) {
	m := re.FindSubmatchIndex(b)
	if m == nil {
		return nil, fmt.Errorf("no top-level %s = \"...\" line to change", key)
	}
	return concat(b[:m[2]], []byte(strconv.Quote(value)), b[m[3]:]), nil
}

func concat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// renameModules renames the root module and every module under it
// (scripts/) in their go.mod files and in the imports of every Go file.
func renameModules(root, oldPath, newPath string, edit func(string, func([]byte) ([]byte, error)) error) error {
	if oldPath == newPath {
		return nil
	}
	renamed := func(p string) (string, bool) {
		if p == oldPath {
			return newPath, true
		}
		if rest, ok := strings.CutPrefix(p, oldPath+"/"); ok {
			return newPath + "/" + rest, true
		}
		return p, false
	}
	tracked, err := trackedFiles(root)
	if err != nil {
		return err
	}
	for _, name := range tracked {
		if _, err := os.Stat(filepath.Join(root, name)); err != nil {
			continue // tracked but deleted in the work tree
		}
		switch {
		case path.Base(name) == "go.mod":
			err = edit(name, func(b []byte) ([]byte, error) {
				f, err := modfile.Parse(name, b, nil)
				if err != nil {
					return nil, err
				}
				p, ok := renamed(modfile.ModulePath(b))
				if !ok {
					return b, nil
				}
				if err := f.AddModuleStmt(p); err != nil {
					return nil, err
				}
				return modfile.Format(f.Syntax), nil
			})
		case strings.HasSuffix(name, ".go"):
			err = edit(name, func(b []byte) ([]byte, error) { return rewriteImports(name, b, oldPath, renamed) })
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func rewriteImports(name string, b []byte, oldPath string, renamed func(string) (string, bool)) ([]byte, error) {
	if !bytes.Contains(b, []byte(`"`+oldPath)) {
		return b, nil // also leaves deliberately broken test inputs alone
	}
	f, err := parser.ParseFile(token.NewFileSet(), name, b, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	// Back to front, so earlier offsets stay valid.
	for i := len(f.Imports) - 1; i >= 0; i-- {
		lit := f.Imports[i].Path
		p, _ := strconv.Unquote(lit.Value)
		if np, ok := renamed(p); ok {
			start := int(lit.Pos()) - 1
			b = concat(b[:start], []byte(strconv.Quote(np)), b[start+len(lit.Value):])
		}
	}
	return b, nil
}

// renameBinary changes the name of the binary where it is written out: the
// string literals of flake.nix (pname, meta.mainProgram), the Dockerfile's
// CMD, .gitignore's local build and the service's usage name and doc comment.
func renameBinary(root, oldName, newName string, edit func(string, func([]byte) ([]byte, error)) error, read func(string) ([]byte, error)) error {
	quoted := regexp.MustCompile(`"` + regexp.QuoteMeta(oldName) + `"`)
	if err := edit("flake.nix", func(b []byte) ([]byte, error) {
		if !quoted.Match(b) {
			return nil, fmt.Errorf("no string %q (pname, meta.mainProgram) to rename", oldName)
		}
		return quoted.ReplaceAll(b, []byte(strconv.Quote(newName))), nil
	}); err != nil {
		return err
	}
	cmd := regexp.MustCompile(`(?m)^(CMD\s*\[\s*"(?:[^"]*/)?)` + regexp.QuoteMeta(oldName) + `"`)
	if err := edit("Dockerfile", func(b []byte) ([]byte, error) {
		if !cmd.Match(b) {
			return nil, fmt.Errorf(`no CMD ["…/%s"] to rename`, oldName)
		}
		return cmd.ReplaceAll(b, []byte(`${1}`+newName+`"`)), nil
	}); err != nil {
		return err
	}
	if _, err := read(".gitignore"); err == nil {
		line := regexp.MustCompile(`(?m)^/` + regexp.QuoteMeta(oldName) + `$`)
		if err := edit(".gitignore", func(b []byte) ([]byte, error) { return line.ReplaceAll(b, []byte("/"+newName)), nil }); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	doc := regexp.MustCompile(`(?m)^// Command ` + regexp.QuoteMeta(oldName) + `\b`)
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		if err := edit(name, func(b []byte) ([]byte, error) {
			b = doc.ReplaceAll(b, []byte("// Command "+newName))
			return replaceStringLiterals(name, b, oldName, newName)
		}); err != nil {
			return err
		}
	}
	return nil
}

// replaceStringLiterals replaces the Go string literals equal to old.
func replaceStringLiterals(name string, b []byte, old, new string) ([]byte, error) {
	f, err := parser.ParseFile(token.NewFileSet(), name, b, 0)
	if err != nil {
		return nil, err
	}
	var offsets []int
	ast.Inspect(f, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil && s == old {
				offsets = append(offsets, int(lit.Pos())-1, len(lit.Value))
			}
		}
		return true
	})
	for i := len(offsets) - 2; i >= 0; i -= 2 {
		b = concat(b[:offsets[i]], []byte(strconv.Quote(new)), b[offsets[i]+offsets[i+1]:])
	}
	return b, nil
}

// trackedFiles lists the files git tracks in root (all files outside git).
func trackedFiles(root string) ([]string, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z").Output()
	if err == nil {
		return strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 }), nil
	}
	var files []string
	err = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			if d != nil && d.IsDir() && d.Name() == ".git" {
				return filepath.SkipDir
			}
			return err
		}
		rel, err := filepath.Rel(root, p)
		files = append(files, filepath.ToSlash(rel))
		return err
	})
	return files, err
}
