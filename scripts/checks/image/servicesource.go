package image

import (
	"fmt"
	"go/ast"
	"go/constant"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
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
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var files []*ast.File
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(root, name), nil, 0)
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

	src := &serviceSource{}
	port, ok := constValue(pkg, "defaultPort", constant.String)
	if !ok {
		return nil, fmt.Errorf("%s: package main has no string const defaultPort", root)
	}
	src.DefaultPort = constant.StringVal(port)
	timeout, ok := constValue(pkg, "shutdownTimeout", constant.Int)
	if !ok {
		return nil, fmt.Errorf("%s: package main has no time.Duration const shutdownTimeout", root)
	}
	ns, _ := constant.Int64Val(timeout)
	src.ShutdownTimeout = time.Duration(ns)

	for _, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			fn := calledFunc(call, info)
			if fn == nil || fn.Pkg() == nil || fn.Pkg().Path() != "os/signal" || (fn.Name() != "Notify" && fn.Name() != "NotifyContext") {
				return true
			}
			for _, arg := range call.Args[1:] {
				if name := signalName(arg, info); name != "" && !slices.Contains(src.Signals, name) {
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

func constValue(pkg *types.Package, name string, kind constant.Kind) (constant.Value, bool) {
	c, ok := pkg.Scope().Lookup(name).(*types.Const)
	if !ok || c.Val().Kind() != kind {
		return nil, false
	}
	return c.Val(), true
}

func calledFunc(call *ast.CallExpr, info *types.Info) *types.Func {
	var id *ast.Ident
	switch fun := call.Fun.(type) {
	case *ast.SelectorExpr:
		id = fun.Sel
	case *ast.Ident:
		id = fun
	}
	fn, _ := info.Uses[id].(*types.Func)
	return fn
}

// signalName names a signal argument: syscall.SIGTERM (or unix.SIGTERM) is
// SIGTERM, os.Interrupt is SIGINT, os.Kill is SIGKILL.
func signalName(arg ast.Expr, info *types.Info) string {
	sel, ok := arg.(*ast.SelectorExpr)
	if !ok {
		return ""
	}
	obj := info.Uses[sel.Sel]
	if obj == nil || obj.Pkg() == nil {
		return ""
	}
	switch path := obj.Pkg().Path(); {
	case path == "os" && obj.Name() == "Interrupt":
		return "SIGINT"
	case path == "os" && obj.Name() == "Kill":
		return "SIGKILL"
	case (path == "syscall" || path == "golang.org/x/sys/unix") && strings.HasPrefix(obj.Name(), "SIG"):
		return obj.Name()
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
