package pipeline

import (
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"testing"

	"scripts/internal/servicebuild"
	"scripts/internal/testkit"
)

func TestMain(m *testing.M) { testkit.Main(m) }

// startService runs the real service (built like the flake) on a free
// loopback port as a machine of the given image would run on Fly, and
// returns its base URL.
func startService(t *testing.T, imageRef string) string {
	t.Helper()
	bin := servicebuild.Binary(t, "v-pipeline-test")
	return testkit.StartService(t, bin, "FLY_IMAGE_REF="+imageRef, "FLY_REGION=ams")
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
