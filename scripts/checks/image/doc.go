// Package image checks the container image and Fly configuration offline:
// the Dockerfile (parsed with BuildKit's own parser), .dockerignore against
// what the flake builds, fly.toml with `flyctl config validate --strict`
// where flyctl runs (else against a mirror of flyctl's schema), the agreement of
// all three with the service's source, and the image's runtime contract: the
// flake's image root, laid out from its own declaration in an empty root
// directory, passes the probe (scripts/cmd/imageprobe) and the program there
// passes fly.toml's health checks.
//
// The checks live in the package's tests; the other files hold the readers
// they share.
package image
