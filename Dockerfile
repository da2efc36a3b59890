# The image is whatever `nix build` makes of flake.nix: the builder stage runs
# Nix on the flake, the final stage holds only the package's runtime closure.
#
# No "# syntax=" line: RUN --mount has been part of the stable Dockerfile
# syntax since 1.2 and is built into every BuildKit Fly uses (Depot, the Fly
# builder machine); the syntax line would only add a pull of the mutable
# docker/dockerfile:1 frontend image to every build.

# Pinned to an exact Nix release. The tag is not pinned by digest: no digest
# of it was verified against its publisher, and a digest copied from anywhere
# else is worse than none.
FROM nixos/nix:2.35.2 AS builder

# .dockerignore lets in only flake.nix, flake.lock, go.mod.sri, go.mod, go.sum
# and the service's *.go files and testdata/. Without .git the flake is a path
# flake, so its version is the fallback "dev"; a release is identified by its
# image label git-<sha> (FLY_IMAGE_REF at run time, shown by /version).
WORKDIR /src

# The toolchain layer: only flake.nix and flake.lock, so a source-only change,
# a Dependabot gomod bump or a vendorHash refresh (go.mod, go.sum, go.mod.sri)
# reuses it and the builder does not download nixpkgs, stdenv and Go again.
# It realises the package's Go (passthru.go of buildGoModule) and what
# nixpkgs' buildGoModule builds with (stdenv; gitMinimal and cacert for the
# vendored modules), all from the locked nixpkgs (--inputs-from .).
#
# Why .#default.go evaluates without go.mod, go.sum, go.mod.sri or any Go file
# (nixpkgs: pkgs/build-support/go/module.nix, pkgs/stdenv/generic/
# make-derivation.nix, lib/customisation.nix): module.nix sets
# passthru = { inherit go; ... } // passthru, where go is the Go that
# buildGo126Module was made with, not a value computed from the package's
# arguments; mkDerivation merges passthru into its result with
# lib.extendDerivation, which asserts its condition only in drvPath and
# outPath; and src, vendorHash, goSum and goModules are attribute values that
# nothing forces until the package's own derivation is instantiated, which
# the step below does. Taking .go needs only the attribute names.
#
# Never wrong, only slower: if this step cannot evaluate or build (a nixpkgs
# that forces a file not copied yet, a network failure), it says so, leaves
# Nix's error above that line, and the build goes on; the package build below
# then fetches the toolchain itself. It only ever adds store paths, which the
# next step would otherwise fetch: the result of the build cannot change.
COPY flake.nix flake.lock ./

# The cache mount keeps Nix's cache directory (NIX_CACHE_HOME) between builds:
# above all tarball-cache-v2, the git repository nixpkgs is unpacked into, so a
# rebuild does not download nixpkgs again, plus the fetcher cache that maps the
# locked input to it. Neither can make a build stale: entries are keyed by the
# locked input (rev and narHash from flake.lock), Nix checks the source's NAR
# hash against flake.lock (a bad cache fails the build, never changes it), and
# a cache entry pointing at a store path this fresh /nix/store lacks is ignored.
# sharing=locked: concurrent builds on one builder take turns instead of
# writing the same git repository at once. /nix/store itself is not cached:
# it must be a real directory for the copy below. The eval cache is off
# because its entries name .drv files that a fresh store never holds, so it
# could only fall back to evaluating anyway.
# --no-update-lock-file: build exactly the committed flake.lock or fail.
# filter-syscalls false: restricted builders (emulation, some remote BuildKit)
# fail with "unable to load seccomp BPF program"; the filter only stops builds
# from creating setuid/setgid files, ACLs and extended attributes, which this
# Go build never does, and the build runs in a throwaway builder stage anyway.
RUN --mount=type=cache,target=/nix-cache,sharing=locked \
    NIX_CACHE_HOME=/nix-cache nix build \
      --extra-experimental-features "nix-command flakes" \
      --option filter-syscalls false \
      --option eval-cache false \
      --no-update-lock-file \
      --no-link \
      --inputs-from . \
      .#default.go nixpkgs#stdenv nixpkgs#gitMinimal nixpkgs#cacert \
 || echo "toolchain layer: nix build of the toolchain failed (error above); skipped, the package build below fetches the toolchain itself"

COPY . .
RUN --mount=type=cache,target=/nix-cache,sharing=locked \
    NIX_CACHE_HOME=/nix-cache nix build \
      --extra-experimental-features "nix-command flakes" \
      --option filter-syscalls false \
      --option eval-cache false \
      --no-update-lock-file \
      --print-build-logs \
      .#default \
 && mkdir -p /image/nix/store \
 && cp -a $(nix-store -qR result) /image/nix/store/ \
 && ln -s "$(readlink -f result)/bin" /image/bin

# scratch: no shell, libc, /etc or package manager; the service is a static
# binary (CGO_ENABLED=0 in flake.nix) and Fly's init is PID 1 and forwards
# signals. /bin is a symlink to the package's bin directory in the store (COPY
# keeps symlinks inside a copied directory), so CMD is the only place the
# program's name appears.
FROM scratch
COPY --from=builder /image/ /
USER 65532:65532
EXPOSE 8080
CMD ["/bin/flakeship"]
