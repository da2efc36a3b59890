# The image is what `nix build` makes of flake.nix: the builder builds the
# flake's image root, the final stage is that root and its store closure.
# Why each step is so: docs/design.md, "The image" and "The image root".
# No "# syntax=" line: RUN --mount is stable syntax in every BuildKit Fly uses.

# An exact Nix release; no digest pin (docs/design.md, "The image", Details).
FROM nixos/nix:2.35.2 AS builder

# .dockerignore lets in only what the flake's packages read. Without .git the
# version is "dev"; a release is its image label git-<sha> (FLY_IMAGE_REF).
WORKDIR /src

# The toolchain layer sees flake.nix and flake.lock only, so a source, go.sum
# or vendorHash change reuses it; never wrong, only slower: it fails open.
COPY flake.nix flake.lock ./

# The cache mount keeps Nix's fetcher cache (nixpkgs) where the builder keeps
# cache mounts between builds; the options: flakes on, seccomp filter off for
# restricted builders, no eval cache (a fresh store never has its .drv files).
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

# The image root: its closure goes to /image/nix/store, its tree (links into
# the store, /etc files) to /image, and each line of its dirs manifest
# ("mode uid gid path") becomes a directory no store path can be (/tmp 1777).
COPY . .
RUN --mount=type=cache,target=/nix-cache,sharing=locked \
    NIX_CACHE_HOME=/nix-cache nix build \
      --extra-experimental-features "nix-command flakes" \
      --option filter-syscalls false \
      --option eval-cache false \
      --no-update-lock-file \
      --print-build-logs \
      .#image-root \
 && mkdir -p /image/nix/store \
 && cp -a $(nix-store -qR result) /image/nix/store/ \
 && cp -a result/root/. /image/ \
 && while read -r mode uid gid dir; do install -d -m "$mode" -o "$uid" -g "$gid" "/image/$dir"; done < result/dirs

# The debug root: the same root plus busybox, built only for the debug target.
FROM builder AS debug-builder
RUN --mount=type=cache,target=/nix-cache,sharing=locked \
    rm -rf /image result \
 && NIX_CACHE_HOME=/nix-cache nix build \
      --extra-experimental-features "nix-command flakes" \
      --option filter-syscalls false \
      --option eval-cache false \
      --no-update-lock-file \
      --print-build-logs \
      .#debug-root \
 && mkdir -p /image/nix/store \
 && cp -a $(nix-store -qR result) /image/nix/store/ \
 && cp -a result/root/. /image/ \
 && while read -r mode uid gid dir; do install -d -m "$mode" -o "$uid" -g "$gid" "/image/$dir"; done < result/dirs

# `fly console --dockerfile Dockerfile --build-target debug` only: a shell in
# a throwaway machine (docs/design.md, "The debug target"). Never deployed.
FROM scratch AS debug
COPY --from=debug-builder /image/ /
USER 65532:65532
ENV HOME=/home/nonroot
EXPOSE 8080
CMD ["/bin/flakeship"]

# The production image, the default target: no shell. COPY --from keeps the
# builder's owners and modes; HOME is set here, where every runtime reads it.
FROM scratch
COPY --from=builder /image/ /
USER 65532:65532
ENV HOME=/home/nonroot
EXPOSE 8080
CMD ["/bin/flakeship"]
