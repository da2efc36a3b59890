package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
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

// edits holds the new content of every file it changed; nothing is written
// until every edit has applied.
type edits struct {
	root  string
	files map[string][]byte
}

func (e *edits) read(name string) ([]byte, error) {
	if b, ok := e.files[name]; ok {
		return b, nil
	}
	return os.ReadFile(filepath.Join(e.root, name))
}

// replace replaces the matches of re in the file; want says the file must
// have one, for a name the rename cannot do without.
func (e *edits) replace(name string, re *regexp.Regexp, with string, want bool) error {
	b, err := e.read(name)
	if err != nil {
		return err
	}
	if want && !re.Match(b) {
		return fmt.Errorf("%s: nothing matches %s; change it by hand or restore the template's form", name, re)
	}
	e.files[name] = re.ReplaceAll(b, []byte(with))
	return nil
}

func rename(root string, n names) ([]string, error) {
	e := &edits{root: root, files: map[string][]byte{}}
	if err := e.replace("fly.toml", topLevel("app"), "${1}"+strconv.Quote(n.App), true); err != nil {
		return nil, err
	}
	if n.Region != "" {
		if err := e.replace("fly.toml", topLevel("primary_region"), "${1}"+strconv.Quote(n.Region), true); err != nil {
			return nil, err
		}
	}
	gomod, err := e.read("go.mod")
	if err != nil {
		return nil, err
	}
	oldModule := modfile.ModulePath(gomod)
	if oldModule == "" {
		return nil, fmt.Errorf("go.mod has no module line")
	}
	if oldModule != n.Module {
		if err := e.renameModule(oldModule, n.Module); err != nil {
			return nil, err
		}
	}
	if old := execName(oldModule); old != n.Binary {
		if err := e.renameBinary(old, n.Binary); err != nil {
			return nil, err
		}
	}
	return e.write()
}

// topLevel matches a top-level `key = "value"` line of fly.toml.
func topLevel(key string) *regexp.Regexp {
	return regexp.MustCompile(`(?m)^(` + key + `\s*=\s*)("[^"\n]*"|'[^'\n]*')`)
}

// renameModule renames the root module and any module under its path in
// every git-tracked go.mod and Go file: the module lines and the import
// paths. The tooling module (scripts/go.mod) has a path of its own, so a
// rename leaves it alone.
func (e *edits) renameModule(oldPath, newPath string) error {
	out, err := exec.Command("git", "-C", e.root, "ls-files", "-z", "*.go", "*go.mod").Output()
	if err != nil {
		return fmt.Errorf("listing the Go files with git in %s (run git init && git add -A first): %w", e.root, err)
	}
	tracked := strings.FieldsFunc(string(out), func(r rune) bool { return r == 0 })
	if !slices.Contains(tracked, "go.mod") {
		return fmt.Errorf("git does not track %s/go.mod: run git add -A first (the rename, like Nix, sees tracked files only)", e.root)
	}
	importPath := regexp.MustCompile(`"` + regexp.QuoteMeta(oldPath) + `(["/])`)
	renamed, err := e.modulesUnder(tracked, oldPath)
	if err != nil {
		return err
	}
	for _, name := range tracked {
		if _, err := os.Stat(filepath.Join(e.root, name)); err != nil {
			continue // tracked but deleted in the work tree
		}
		if !renamed[moduleDir(tracked, name)] {
			continue // another module's file, such as the tooling's examples
		}
		if path.Base(name) != "go.mod" {
			if err := e.replace(name, importPath, `"`+newPath+"$1", false); err != nil {
				return err
			}
			continue
		}
		b, err := e.read(name)
		if err != nil {
			return err
		}
		f, err := modfile.Parse(name, b, nil)
		if err != nil {
			return err
		}
		if err := f.AddModuleStmt(newPath + strings.TrimPrefix(modfile.ModulePath(b), oldPath)); err != nil {
			return err
		}
		e.files[name] = modfile.Format(f.Syntax)
	}
	return nil
}

// modulesUnder returns the directories of the tracked modules whose path is
// oldPath or below it: the ones a rename moves.
func (e *edits) modulesUnder(tracked []string, oldPath string) (map[string]bool, error) {
	dirs := map[string]bool{}
	for _, name := range tracked {
		if path.Base(name) != "go.mod" {
			continue
		}
		b, err := e.read(name)
		if err != nil {
			if os.IsNotExist(err) {
				continue
			}
			return nil, err
		}
		if p := modfile.ModulePath(b); p == oldPath || strings.HasPrefix(p, oldPath+"/") {
			dirs[path.Dir(name)] = true
		}
	}
	return dirs, nil
}

// moduleDir is the directory of the nearest tracked go.mod at or above the
// file's directory: the module the file belongs to.
func moduleDir(tracked []string, name string) string {
	for dir := path.Dir(name); ; dir = path.Dir(dir) {
		if slices.Contains(tracked, path.Join(dir, "go.mod")) {
			return dir
		}
		if dir == "." || dir == "/" {
			return "."
		}
	}
}

// renameBinary renames the binary where it is written out: the string
// literals of flake.nix (pname, meta.mainProgram) and of the service's
// source (its usage name), the flake's description, the Dockerfile's CMD,
// the service's doc comment and .gitignore's local build.
func (e *edits) renameBinary(oldName, newName string) error {
	name := regexp.QuoteMeta(oldName)
	literal := regexp.MustCompile(`"` + name + `"`)
	if err := e.replace("flake.nix", literal, strconv.Quote(newName), true); err != nil {
		return err
	}
	if err := e.replace("flake.nix", regexp.MustCompile(`(?m)^(\s*description\s*=\s*")`+name+`:`), "${1}"+newName+":", false); err != nil {
		return err
	}
	if err := e.replace("Dockerfile", regexp.MustCompile(`(?m)^(CMD\s*\[\s*"(?:[^"]*/)?)`+name+`"`), "${1}"+newName+`"`, true); err != nil {
		return err
	}
	if err := e.replace(".gitignore", regexp.MustCompile(`(?m)^/`+name+`$`), "/"+newName, false); err != nil && !os.IsNotExist(err) {
		return err
	}
	service, err := filepath.Glob(filepath.Join(e.root, "*.go"))
	if err != nil {
		return err
	}
	doc := regexp.MustCompile(`(?m)^// Command ` + name + `\b`)
	for _, file := range service {
		file = filepath.Base(file)
		if strings.HasSuffix(file, "_test.go") {
			continue
		}
		if err := e.replace(file, literal, strconv.Quote(newName), false); err != nil {
			return err
		}
		if err := e.replace(file, doc, "// Command "+newName, false); err != nil {
			return err
		}
	}
	return nil
}

// write writes the files whose content changed and returns their names.
func (e *edits) write() ([]string, error) {
	var changed []string
	for name, b := range e.files {
		if old, err := os.ReadFile(filepath.Join(e.root, name)); err == nil && !bytes.Equal(old, b) {
			changed = append(changed, name)
		}
	}
	slices.Sort(changed)
	for _, name := range changed {
		full := filepath.Join(e.root, name)
		info, err := os.Stat(full)
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(full, e.files[name], info.Mode().Perm()); err != nil {
			return nil, err
		}
	}
	return changed, nil
}
