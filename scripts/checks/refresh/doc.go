// Package refresh tests scripts/refresh-vendorhash against a local bare
// repository that stands in for GitHub.
package refresh
