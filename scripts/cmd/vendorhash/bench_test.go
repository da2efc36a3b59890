package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"scripts/internal/repo"
)

// BenchmarkVendorHashVsGoModVendor times scripts/vendorhash on the service
// module against a bare `go mod vendor` of the same module, warm module
// cache, alternating the two in each iteration so that load on the machine
// hits both alike. It reports seconds per run of each and their ratio:
//
//	cd scripts && go test -run '^$' -bench VendorHashVs -benchtime 10x ./cmd/vendorhash/
func BenchmarkVendorHashVsGoModVendor(b *testing.B) {
	root, err := repo.Root()
	if err != nil {
		b.Fatal(err)
	}
	if _, _, err := vendorHash(root); err != nil { // warm the module cache
		b.Fatal(err)
	}
	work := filepath.Join(b.TempDir(), "module")
	if _, err := copyModule(root, work); err != nil {
		b.Fatal(err)
	}
	var bare, tool time.Duration
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		cmd := exec.Command("go", "mod", "vendor")
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local", "GOWORK=off")
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%v\n%s", err, out)
		}
		bare += time.Since(start)
		if err := os.RemoveAll(filepath.Join(work, "vendor")); err != nil {
			b.Fatal(err)
		}

		start = time.Now()
		if _, _, err := vendorHash(root); err != nil {
			b.Fatal(err)
		}
		tool += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(bare.Seconds()/n, "go-mod-vendor-s/op")
	b.ReportMetric(tool.Seconds()/n, "vendorhash-s/op")
	b.ReportMetric(tool.Seconds()/bare.Seconds(), "ratio")
}
