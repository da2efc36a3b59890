package main

import (
	"crypto/x509"
	_ "embed"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/user"
	"path/filepath"
	"time"
)

// chainPEM is a real public chain, www.google.com's leaf and its
// intermediate GTS CA 1C3, up to GTS Root R1 (in Mozilla's root store),
// from Go's crypto/x509 verify_test.go, with the time it verifies at.
//
//go:embed testdata/chain.pem
var chainPEM []byte

const (
	chainHost = "www.google.com"
	chainTime = 1677615892 // 2023-02-28, inside the leaf's validity
	dstZone   = "Europe/Berlin"
)

type config struct {
	user    string // the passwd name the image's USER must have
	nonroot bool   // the image's USER must not be root
}

func parseArgs(args []string, stderr io.Writer) (config, error) {
	var cfg config
	fs := flag.NewFlagSet("imageprobe", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.user, "user", "", "the user name the image's USER must have in /etc/passwd (default: any entry)")
	fs.BoolVar(&cfg.nonroot, "nonroot", false, "fail when the image's USER is root (uid 0)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, errors.New("usage: imageprobe [-user NAME] [-nonroot]")
	}
	return cfg, nil
}

// probe is one thing a service does at run time and what it loses when
// the image cannot do it.
type probe struct {
	name, loss string
	check      func() error
}

func probes(cfg config) []probe {
	ps := []probe{
		{"CA roots: a public chain verifies against the system pool", "HTTPS calls would fail (no CA roots at /etc/ssl/certs/ca-certificates.crt)", verifyChain},
		{"time zones: " + dstZone + " loads with DST", "time zones would not load (time.LoadLocation; no zoneinfo at /usr/share/zoneinfo)", loadZone},
		{"temp files: os.CreateTemp(\"\") writes in a world-writable sticky " + os.TempDir(), "temp files would fail (os.CreateTemp, gin's multipart uploads over MaxMultipartMemory; no /tmp with mode 1777)", tempFile},
		{"user: user.Current has an /etc/passwd entry " + cfg.user, "user lookups would fail (user.Current; no /etc/passwd entry for the image's USER)", func() error { return currentUser(cfg.user) }},
		{"group: the user's group resolves", "group lookups would fail (user.LookupGroupId; no /etc/group entry)", userGroup},
		{"home: $HOME is the user's home and writable", "the home directory would be missing or read-only (os.UserHomeDir: SDK config and caches)", homeDir},
	}
	if cfg.nonroot {
		ps = append(ps, probe{"unprivileged: the image's USER is not root", "the service would run as root (set USER to the root's unprivileged user)", notRoot})
	}
	return ps
}

func notRoot() error {
	if uid := os.Getuid(); uid == 0 {
		return errors.New("uid 0")
	}
	return nil
}

func verifyChain() error {
	pool, err := x509.SystemCertPool()
	if err != nil {
		return err
	}
	var certs []*x509.Certificate
	for rest := chainPEM; ; {
		var block *pem.Block
		if block, rest = pem.Decode(rest); block == nil {
			break
		}
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return fmt.Errorf("the probe's own chain: %w", err)
		}
		certs = append(certs, c)
	}
	if len(certs) < 2 {
		return fmt.Errorf("the probe's own chain has %d certificates, want a leaf and an intermediate", len(certs))
	}
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots: pool, Intermediates: intermediates, DNSName: chainHost, CurrentTime: time.Unix(chainTime, 0),
	})
	return err
}

func loadZone() error {
	loc, err := time.LoadLocation(dstZone)
	if err != nil {
		return err
	}
	_, winter := time.Date(2025, time.January, 15, 12, 0, 0, 0, loc).Zone()
	_, summer := time.Date(2025, time.July, 15, 12, 0, 0, 0, loc).Zone()
	if summer-winter != 3600 {
		return fmt.Errorf("%s has UTC offsets %ds in January and %ds in July, want one hour of DST between them", dstZone, winter, summer)
	}
	return nil
}

func tempFile() error {
	info, err := os.Stat(os.TempDir())
	if err != nil {
		return err
	}
	if info.Mode()&fs.ModeSticky == 0 || info.Mode().Perm() != 0o777 {
		return fmt.Errorf("%s has mode %v, want drwxrwxrwt (1777): writable by every user, files removable only by their owner", os.TempDir(), info.Mode())
	}
	f, err := os.CreateTemp("", "imageprobe-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.WriteString("probe"); err != nil {
		return err
	}
	return f.Close()
}

func currentUser(want string) error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	if u.Username == "" || want != "" && u.Username != want {
		return fmt.Errorf("uid %s is %q, want %q", u.Uid, u.Username, want)
	}
	return nil
}

func userGroup() error {
	u, err := user.Current()
	if err != nil {
		return err
	}
	_, err = user.LookupGroupId(u.Gid)
	return err
}

func homeDir() error {
	home, err := os.UserHomeDir()
	if err != nil {
		return err
	}
	if u, err := user.Current(); err == nil && u.HomeDir != home {
		return fmt.Errorf("$HOME is %s, but the user's /etc/passwd home is %s", home, u.HomeDir)
	}
	// Only what the probe made is removed: a new directory of its own.
	dir, err := os.MkdirTemp(home, ".imageprobe-*")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	return os.WriteFile(filepath.Join(dir, "config"), []byte("probe"), 0o600)
}
