package image

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// serviceSource is what the image and fly.toml must agree with, read from
// the root package's Go source (not from its behaviour).
type serviceSource struct {
	DefaultPort     string
	ShutdownTimeout time.Duration
	Signals         []string // e.g. SIGINT, SIGTERM: what signal.Notify/NotifyContext subscribe to
}

// readServiceSource type-checks the root package's non-test files. Standard
// library imports are resolved; others (gin) are stubbed, which is enough
// to evaluate the constants and signal arguments the checks need.
func readServiceSource(root string) (*serviceSource, error) {
	fset := token.NewFileSet()
	paths, err := filepath.Glob(filepath.Join(root, "*.go"))
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, p := range paths {
		if strings.HasSuffix(p, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, p, nil, 0)
		if err != nil {
			return nil, err
		}
		if f.Name.Name == "main" {
			files = append(files, f)
		}
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no package main in %s", root)
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: stdOnlyImporter{importer.Default()}, Error: func(error) {}}
	pkg, _ := conf.Check("main", fset, files, info) // errors from stubbed imports are expected

	port, ok := pkg.Scope().Lookup("defaultPort").(*types.Const)
	if !ok || port.Val().Kind() != constant.String {
		return nil, fmt.Errorf("%s: package main has no string const defaultPort", root)
	}
	timeout, ok := pkg.Scope().Lookup("shutdownTimeout").(*types.Const)
	if !ok || timeout.Val().Kind() != constant.Int {
		return nil, fmt.Errorf("%s: package main has no time.Duration const shutdownTimeout", root)
	}
	ns, _ := constant.Int64Val(timeout.Val())
	src := &serviceSource{DefaultPort: constant.StringVal(port.Val()), ShutdownTimeout: time.Duration(ns)}

	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			if pkg, name := objectOf(info, call.Fun); pkg != "os/signal" || name != "Notify" && name != "NotifyContext" {
				return true
			}
			for _, arg := range call.Args[1:] {
				if name := signalName(objectOf(info, arg)); name != "" && !slices.Contains(src.Signals, name) {
					src.Signals = append(src.Signals, name)
				}
			}
			return true
		})
	}
	if len(src.Signals) == 0 {
		return nil, fmt.Errorf("%s: no signal.Notify or signal.NotifyContext call naming signals; the service must handle SIGINT and SIGTERM", root)
	}
	return src, nil
}

// objectOf returns the package path and name of what an identifier or a
// pkg.Name selector refers to.
func objectOf(info *types.Info, e ast.Expr) (pkg, name string) {
	if sel, ok := e.(*ast.SelectorExpr); ok {
		e = sel.Sel
	}
	id, _ := e.(*ast.Ident)
	if obj := info.Uses[id]; id != nil && obj != nil && obj.Pkg() != nil {
		return obj.Pkg().Path(), obj.Name()
	}
	return "", ""
}

// signalName names a signal: syscall.SIGTERM (or unix.SIGTERM) is SIGTERM,
// os.Interrupt is SIGINT, os.Kill is SIGKILL.
func signalName(pkg, name string) string {
	switch {
	case pkg == "os" && name == "Interrupt":
		return "SIGINT"
	case pkg == "os" && name == "Kill":
		return "SIGKILL"
	case (pkg == "syscall" || pkg == "golang.org/x/sys/unix") && strings.HasPrefix(name, "SIG"):
		return name
	}
	return ""
}

// stdOnlyImporter imports standard library packages and gives every other
// import an empty package, so type checking continues past it.
type stdOnlyImporter struct{ std types.Importer }

func (i stdOnlyImporter) Import(path string) (*types.Package, error) {
	if first, _, _ := strings.Cut(path, "/"); !strings.Contains(first, ".") {
		return i.std.Import(path)
	}
	pkg := types.NewPackage(path, filepath.Base(path))
	pkg.MarkComplete()
	return pkg, nil
}
