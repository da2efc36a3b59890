package scenario

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
)

func readFile(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	full := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// edit replaces every match of pattern in the file with replace (which may
// use $1 …); the scenario fails if the file has no match, so an edit that no
// longer applies is noticed rather than silently testing nothing.
func edit(t *testing.T, dir, name, pattern, replace string) {
	t.Helper()
	re := regexp.MustCompile(pattern)
	text := readFile(t, dir, name)
	if !re.MatchString(text) {
		t.Fatalf("%s has no match for %s: the scenario's edit no longer applies; update it to the file's new shape", name, pattern)
	}
	writeFile(t, dir, name, re.ReplaceAllString(text, replace))
}

// setFlyKey sets every `key = ...` line of fly.toml to value (TOML text).
func setFlyKey(t *testing.T, dir, key, value string) {
	t.Helper()
	edit(t, dir, "fly.toml", `(?m)^(\s*`+key+`\s*=\s*).*$`, "${1}"+strings.ReplaceAll(value, "$", "$$"))
}

func flyToml(t *testing.T, dir string) map[string]any {
	t.Helper()
	var m map[string]any
	if _, err := toml.DecodeFile(filepath.Join(dir, "fly.toml"), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func internalPort(t *testing.T, dir string) int64 {
	t.Helper()
	service, _ := flyToml(t, dir)["http_service"].(map[string]any)
	port, ok := service["internal_port"].(int64)
	if !ok {
		t.Fatal("fly.toml has no [http_service] internal_port")
	}
	return port
}

// imageProgram is the program the Dockerfile's exec-form CMD runs.
func imageProgram(t *testing.T, dir string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^CMD\s*\[\s*"([^"]+)"`).FindStringSubmatch(readFile(t, dir, "Dockerfile"))
	if m == nil {
		t.Fatal("the Dockerfile has no exec-form CMD")
	}
	return m[1]
}

// otherSHA is a 40-hex value derived from sha, as a new release's would be.
func otherSHA(sha string) string {
	sum := sha1.Sum([]byte(sha))
	return hex.EncodeToString(sum[:])
}

// nextVersion bumps a version's last number: v7.0.1 → v7.0.2, 1.6 → 1.7.
func nextVersion(t *testing.T, version string) string {
	t.Helper()
	m := regexp.MustCompile(`^(.*?)(\d+)$`).FindStringSubmatch(version)
	if m == nil {
		t.Fatalf("version %q does not end in a number", version)
	}
	n, _ := strconv.Atoi(m[2])
	return m[1] + strconv.Itoa(n+1)
}

var pinnedUses = regexp.MustCompile(`uses:\s*([^@\s]+)@([0-9a-f]{40})\s*#\s*(\S+)`)

func workflows(t *testing.T, dir string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, ".github", "workflows", "*.yml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no workflows in %s/.github/workflows", dir)
	}
	for i, f := range files {
		files[i], _ = filepath.Rel(dir, f)
	}
	return files
}

// bumpAction updates the first pinned action as Dependabot does: every use
// of it gets the new release's SHA and tag comment.
func bumpAction(t *testing.T, dir string) {
	for _, wf := range workflows(t, dir) {
		m := pinnedUses.FindStringSubmatch(readFile(t, dir, wf))
		if m == nil {
			continue
		}
		old := regexp.QuoteMeta(m[1]) + `@` + m[2] + `(\s*)#\s*` + regexp.QuoteMeta(m[3])
		replacement := m[1] + "@" + otherSHA(m[2]) + "${1}# " + nextVersion(t, m[3])
		for _, wf := range workflows(t, dir) {
			if regexp.MustCompile(old).MatchString(readFile(t, dir, wf)) {
				edit(t, dir, wf, old, replacement)
			}
		}
		return
	}
	t.Fatal("no workflow uses an action pinned to a SHA with a tag comment")
}

func unpinAction(t *testing.T, dir string) {
	for _, wf := range workflows(t, dir) {
		if loc := pinnedUses.FindStringSubmatchIndex(readFile(t, dir, wf)); loc != nil {
			text := readFile(t, dir, wf)
			writeFile(t, dir, wf, text[:loc[4]]+"v4"+text[loc[1]:])
			return
		}
	}
	t.Fatal("no workflow uses an action pinned to a SHA")
}

// editLock applies change to flake.lock's nixpkgs node (found through the
// root node's inputs) and writes it back as Nix formats it.
func editLock(t *testing.T, dir string, change func(locked, original map[string]any)) {
	t.Helper()
	var lock map[string]any
	if err := json.Unmarshal([]byte(readFile(t, dir, "flake.lock")), &lock); err != nil {
		t.Fatal(err)
	}
	nodes, _ := lock["nodes"].(map[string]any)
	root, _ := nodes[fmt.Sprint(lock["root"])].(map[string]any)
	inputs, _ := root["inputs"].(map[string]any)
	node, _ := nodes[fmt.Sprint(inputs["nixpkgs"])].(map[string]any)
	locked, _ := node["locked"].(map[string]any)
	original, _ := node["original"].(map[string]any)
	if locked == nil || original == nil {
		t.Fatal("flake.lock has no locked nixpkgs input")
	}
	change(locked, original)
	b, err := json.MarshalIndent(lock, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, "flake.lock", string(b)+"\n")
}

// bumpNixpkgs moves the lock to another revision, as a Dependabot nix
// update does: new rev, narHash and lastModified.
func bumpNixpkgs(t *testing.T, dir string) {
	editLock(t, dir, func(locked, _ map[string]any) {
		rev := fmt.Sprint(locked["rev"])
		nar := sha256.Sum256([]byte(rev))
		locked["rev"] = otherSHA(rev)
		locked["narHash"] = "sha256-" + base64.StdEncoding.EncodeToString(nar[:])
		modified, _ := locked["lastModified"].(float64)
		locked["lastModified"] = int64(modified) + 7*86400
	})
}

// nextNixosRelease moves the nixpkgs input to the next NixOS release
// (YY.05 → YY.11 → YY+1.05) in flake.nix and flake.lock.
func nextNixosRelease(t *testing.T, dir string) {
	release := regexp.MustCompile(`nixos-(\d\d)\.(\d\d)`)
	m := release.FindStringSubmatch(readFile(t, dir, "flake.nix"))
	if m == nil {
		t.Fatal("flake.nix's nixpkgs input names no nixos-YY.MM branch")
	}
	year, _ := strconv.Atoi(m[1])
	next := fmt.Sprintf("nixos-%02d.11", year)
	if m[2] == "11" {
		next = fmt.Sprintf("nixos-%02d.05", year+1)
	}
	edit(t, dir, "flake.nix", regexp.QuoteMeta(m[0]), next)
	editLock(t, dir, func(_, original map[string]any) { original["ref"] = next })
	bumpNixpkgs(t, dir)
}

func bumpNixImage(t *testing.T, dir string) {
	from := regexp.MustCompile(`(?m)^(FROM\s+\S*nix\S*:v?)(\d+\.\d+\.)(\d+)\b`)
	m := from.FindStringSubmatch(readFile(t, dir, "Dockerfile"))
	if m == nil {
		t.Fatal("the Dockerfile has no FROM of a Nix image with an X.Y.Z tag")
	}
	patch, _ := strconv.Atoi(m[3])
	edit(t, dir, "Dockerfile", regexp.QuoteMeta(m[0])+`\b`, m[1]+m[2]+strconv.Itoa(patch+1))
}

func addDevShellPackage(t *testing.T, dir string) {
	edit(t, dir, "flake.nix", `(mkShell\s*\{[^}]*?packages\s*=\s*(?:with pkgs;\s*)?\[\n)(\s*)`, "${1}${2}pkgs.sqlite\n${2}")
}

// changePort moves the service to another port everywhere a user would:
// the service's default, EXPOSE, internal_port, the workflows, flake.nix
// and the README.
func changePort(t *testing.T, dir string) {
	old := strconv.FormatInt(internalPort(t, dir), 10)
	next := strconv.FormatInt(internalPort(t, dir)+1, 10)
	files := append([]string{"fly.toml", "Dockerfile", "flake.nix", "README.md"}, workflows(t, dir)...)
	root, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range root {
		if strings.HasSuffix(e.Name(), ".go") && !strings.HasSuffix(e.Name(), "_test.go") {
			files = append(files, e.Name())
		}
	}
	word := regexp.MustCompile(`\b` + old + `\b`)
	changed := 0
	for _, name := range files {
		text := readFile(t, dir, name)
		if word.MatchString(text) {
			writeFile(t, dir, name, word.ReplaceAllString(text, next))
			changed++
		}
	}
	if changed < 3 {
		t.Fatalf("port %s found in only %d files; the service, the Dockerfile and fly.toml should all name it", old, changed)
	}
}

// misspellFlyKey swaps two letters of the first key in [http_service] and
// returns the misspelt key.
func misspellFlyKey(t *testing.T, dir string) string {
	re := regexp.MustCompile(`(?m)^\[http_service\]\n(\s*)([a-z])([a-z])([a-z])([a-z_]*)(\s*=)`)
	m := re.FindStringSubmatch(readFile(t, dir, "fly.toml"))
	if m == nil {
		t.Fatal("fly.toml's [http_service] does not start with a key")
	}
	edit(t, dir, "fly.toml", re.String(), "[http_service]\n${1}${2}${4}${3}${5}${6}")
	return m[2] + m[4] + m[3] + m[5]
}

// addEndpointWithDependency adds GET /uuid, served with a new dependency
// (github.com/google/uuid: small, no dependencies of its own).
func addEndpointWithDependency(t *testing.T, dir string) {
	writeFile(t, dir, "uuid.go", `package main

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
)

// uuidHandler answers with a new random UUID.
func uuidHandler(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"uuid": uuid.NewString()})
}
`)
	edit(t, dir, "routes.go", `(?m)^(\s*)(\w+)\.GET\("/ping".*$`, "$0\n${1}${2}.GET(\"/uuid\", uuidHandler)")
	env := []string{"GOFLAGS=-mod=mod", "GOWORK=off", "GOTOOLCHAIN=local"}
	run(t, dir, env, "go", "get", "github.com/google/uuid@v1.6.0")
	run(t, dir, env, "go", "mod", "tidy")
}

// appNamedLikeBinary names the Fly app after the image's program.
func appNamedLikeBinary(t *testing.T, dir string) {
	setFlyKey(t, dir, "app", strconv.Quote(path.Base(imageProgram(t, dir))))
}
