package pipeline

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flakeship/flakeship/scripts/internal/servicebuild"
)

var (
	buildOnce   sync.Once
	serviceDir  string
	servicePath string
	buildErr    error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serviceDir != "" {
		os.RemoveAll(serviceDir)
	}
	os.Exit(code)
}

// serviceBinary builds the real service once, the way the flake does.
func serviceBinary(t *testing.T) string {
	t.Helper()
	root := repoRoot(t)
	buildOnce.Do(func() {
		serviceDir, buildErr = os.MkdirTemp("", "pipeline-test-service-")
		if buildErr != nil {
			return
		}
		servicePath, buildErr = servicebuild.Build(root, serviceDir, "flakeship", "v-pipeline-test")
	})
	if buildErr != nil {
		t.Fatalf("building the service: %v", buildErr)
	}
	return servicePath
}

// startService runs the real service on a free loopback port as a machine
// of the given image would run on Fly, and returns its base URL. A port taken
// by a parallel test between choosing and binding it makes the service exit;
// it is then started again on another port.
func startService(t *testing.T, imageRef string) string {
	t.Helper()
	for try := 0; try < 5; try++ {
		if base, ok := startServiceOnce(t, imageRef); ok {
			return base
		}
	}
	t.Fatalf("the service (FLY_IMAGE_REF=%s) did not start on any of 5 loopback ports", imageRef)
	return ""
}

func startServiceOnce(t *testing.T, imageRef string) (string, bool) {
	t.Helper()
	bin := serviceBinary(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(l.Addr().String())
	l.Close()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), "PORT="+port, "GIN_MODE=release", "FLY_IMAGE_REF="+imageRef, "FLY_REGION=ams")
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", bin, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	stop := func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	}
	base := "http://127.0.0.1:" + port
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		select {
		case <-exited:
			return "", false
		default:
		}
		// /version must name our image: the port could belong to another test's server.
		if resp, err := http.Get(base + "/version"); err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK && strings.Contains(string(body), imageRef) {
				t.Cleanup(stop)
				return base, true
			}
		}
	}
	stop()
	return "", false
}

// flyProxy stands in for https://<app>.fly.dev: it forwards to the machine
// of the image named in the file servingFile (written by the stand-in
// flyctl when a deploy "succeeds"), and answers 503 like Fly's proxy when no
// machine of a known image serves.
func flyProxy(t *testing.T, servingFile string, machines map[string]string) *httptest.Server {
	t.Helper()
	proxies := map[string]*httputil.ReverseProxy{}
	for image, base := range machines {
		u, err := url.Parse(base)
		if err != nil {
			t.Fatal(err)
		}
		proxies[image] = httputil.NewSingleHostReverseProxy(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := os.ReadFile(servingFile)
		p, ok := proxies[strings.TrimSpace(string(b))]
		if !ok {
			http.Error(w, "no machine of this app is healthy", http.StatusServiceUnavailable)
			return
		}
		p.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv
}
