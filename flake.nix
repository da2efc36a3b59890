{
  description = "flakeship: a small Go web service, built by Nix and deployed to Fly.io";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-26.05";

  outputs =
    { self, nixpkgs }:
    let
      inherit (nixpkgs) lib;

      forAllSystems = nixpkgs.lib.genAttrs [
        "x86_64-linux"
        "aarch64-linux"
        "x86_64-darwin"
        "aarch64-darwin"
      ];

      version = self.shortRev or self.dirtyShortRev or "dev";

      # What the service build reads: go.mod, go.sum and the root module's Go
      # files. scripts/ is a separate module (dev tooling, not built by Nix), so
      # editing it, the README or CI files does not rebuild the package. It may
      # be absent: the Docker build context holds only what this package reads.
      goFiles = lib.fileset.fileFilter (file: file.hasExt "go") ./.;
      serviceFiles = lib.fileset.unions [
        ./go.mod
        ./go.sum
        (lib.fileset.difference goFiles (lib.fileset.maybeMissing ./scripts))
        (lib.fileset.maybeMissing ./testdata)
      ];

      sourceOf =
        fileset:
        lib.fileset.toSource {
          root = ./.;
          inherit fileset;
        };

      # One Go for the package, its checks, the dev shell and golangci-lint:
      # a golangci-lint built with an older Go than the code it lints panics
      # ("file requires newer Go version"). nixpkgs' golangci-lint takes its
      # builder as an argument (buildGo126Module on nixos-26.05,
      # pkgs/by-name/go/golangci-lint); whichever buildGo…Module argument the
      # pinned release names gets the package's builder.
      buildGoModuleFor = pkgs: pkgs.buildGo126Module;
      golangciLintFor =
        pkgs:
        let
          builderArgs = lib.filter (name: builtins.match "buildGo[0-9]*Module" name != null) (
            lib.attrNames (lib.functionArgs pkgs.golangci-lint.override)
          );
        in
        lib.throwIf (builderArgs == [ ])
          "pkgs.golangci-lint takes no buildGo…Module argument any more: build it with the package's Go another way in flake.nix (golangciLintFor)"
          (pkgs.golangci-lint.override (lib.genAttrs builderArgs (_: buildGoModuleFor pkgs)));

      servicePackageFor =
        pkgs:
        (buildGoModuleFor pkgs) (finalAttrs: {
          pname = "flakeship";
          inherit version;

          src = sourceOf serviceFiles;

          # One line, written by scripts/vendorhash --write after a dependency change.
          vendorHash = lib.fileContents ./go.mod.sri;
          goSum = ./go.sum;
          # The vendored modules depend on go.mod and go.sum, not on the commit:
          # without the version in their name every commit reuses them.
          overrideModAttrs = _: prev: {
            name = lib.replaceStrings [ "-${version}-go-modules" ] [ "-go-modules" ] prev.name;
          };

          subPackages = [ "." ];
          # The tests run in checks.<system>.tests, which also writes reports.
          doCheck = false;
          # The build log says which Go built the package, as every check's does.
          preBuild = "go version";

          # No cgo: a static binary (README, "Adding a runtime dependency",
          # for a C library). -trimpath comes from buildGoModule
          # (allowGoReference = false), which also refuses any reference to
          # Go in the output.
          env.CGO_ENABLED = 0;
          tags = [ "nomsgpack" ];
          ldflags = [
            "-s"
            "-w"
            "-X main.version=${finalAttrs.version}"
          ];

          meta = {
            description = "Tiny gin web service (/ping, /version) deployed to Fly.io";
            mainProgram = finalAttrs.pname;
          };
        });

      # Programs the service runs at run time (it execs them): each package's
      # main program is linked into the image's /bin, and its closure ships.
      runtimePackagesFor = pkgs: [ ];

      # The image's root file system beside the store (docs/design.md, "The
      # image root"): what distroless static:nonroot holds, from the pinned
      # nixpkgs. links: path -> store path; files: path -> text; dirs: made by
      # the Dockerfile with a mode and an owner no store path can carry.
      imageRootSpecFor =
        pkgs: service:
        let
          # tzdata without right/ (leap-second zones, as large as the rest).
          # zic's links are relative: the copy must not refer to tzdata.
          zoneinfo = pkgs.runCommand "zoneinfo" { disallowedReferences = [ pkgs.tzdata ]; } ''
            cp -R ${pkgs.tzdata}/share/zoneinfo $out
            chmod -R u+w $out
            rm -r $out/right
          '';
          program = package: {
            name = "bin/${baseNameOf (lib.getExe package)}";
            value = lib.getExe package;
          };
        in
        {
          links = {
            "etc/ssl/certs/ca-certificates.crt" = "${pkgs.cacert}/etc/ssl/certs/ca-bundle.crt";
            "usr/share/zoneinfo" = "${zoneinfo}";
          }
          // lib.listToAttrs (map program ([ service ] ++ runtimePackagesFor pkgs));
          files = {
            "etc/passwd" = ''
              root:x:0:0:root:/root:/sbin/nologin
              nobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin
              nonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin
            '';
            "etc/group" = ''
              root:x:0:
              nobody:x:65534:
              nonroot:x:65532:
            '';
          };
          dirs = [
            {
              path = "tmp";
              mode = "1777";
              uid = 0;
              gid = 0;
            }
            {
              path = "home/nonroot";
              mode = "0700";
              uid = 65532;
              gid = 65532;
            }
          ];
        };

      # The spec as a tree: $out/root (links and files) and $out/dirs (one
      # "mode uid gid path" line each), which the Dockerfile copies and makes.
      imageRootFor =
        pkgs: service: name: spec:
        pkgs.runCommand "${service.pname}-${name}"
          {
            nativeBuildInputs = [ pkgs.jq ];
            spec = builtins.toJSON spec;
          }
          ''
            mkdir -p "$out/root"
            jq -r '.links | to_entries[] | "\(.key)\t\(.value)"' <<<"$spec" |
              while IFS=$'\t' read -r path target; do
                mkdir -p "$(dirname "$out/root/$path")"
                ln -s "$target" "$out/root/$path"
              done
            jq -r '.files | keys[]' <<<"$spec" |
              while read -r path; do
                mkdir -p "$(dirname "$out/root/$path")"
                jq -j --arg path "$path" '.files[$path]' <<<"$spec" >"$out/root/$path"
              done
            jq -r '.dirs[] | "\(.mode) \(.uid) \(.gid) \(.path)"' <<<"$spec" >"$out/dirs"
          '';

      # The debug target's root: the image's plus busybox's shell and tools.
      debugRootSpecFor =
        pkgs: service:
        let
          spec = imageRootSpecFor pkgs service;
        in
        spec
        // {
          # fly console's machine runs /bin/sleep inf (flyctl's
          # ToConsoleMachineConfig), then the shell.
          links = {
            "bin/sh" = "${pkgs.busybox}/bin/busybox";
            "bin/sleep" = "${pkgs.busybox}/bin/busybox";
            "usr/bin" = "${pkgs.busybox}/bin";
          }
          // spec.links;
        };
    in
    {
      packages = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          service = servicePackageFor pkgs;
        in
        {
          default = service;
        }
        # Images are Linux: busybox and the roots build on Linux systems only.
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          image-root = imageRootFor pkgs service "image-root" (imageRootSpecFor pkgs service);
          debug-root = imageRootFor pkgs service "debug-root" (debugRootSpecFor pkgs service);
        }
      );

      apps = forAllSystems (system: {
        default = {
          type = "app";
          program = lib.getExe self.packages.${system}.default;
          meta.description = "Run the service on 0.0.0.0:$PORT";
        };
      });

      devShells = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
        in
        {
          default = pkgs.mkShell {
            packages = [
              self.packages.${system}.default.go
              (golangciLintFor pkgs)
              pkgs.gopls
              pkgs.gotestsum
              pkgs.actionlint
              pkgs.shellcheck
              pkgs.flyctl
              pkgs.nixfmt
              pkgs.wrk
              pkgs.jq # the image-root tests run the flake's root script
            ];
          };
        }
      );

      # `nix fmt` runs this with no arguments (Nix >= 2.25): nixfmt-tree is
      # treefmt set up to run nixfmt on every .nix file of the git tree.
      formatter = forAllSystems (system: nixpkgs.legacyPackages.${system}.nixfmt-tree);

      # `nix flake init -t github:<owner>/<repo>` copies this repository.
      templates.default = {
        path = ./.;
        description = "A Go web service built by a Nix flake and deployed to Fly.io";
        # nix flake init writes the files without their executable bits.
        welcomeText = ''
          Next: chmod +x .ci/run $(grep -ls '^#!' scripts/*) && git init && git add -A,
          then nix develop -c scripts/rename --app NAME --module PATH (see README.md).
        '';
      };

      checks = forAllSystems (
        system:
        let
          pkgs = nixpkgs.legacyPackages.${system};
          service = self.packages.${system}.default;
          golangci-lint = golangciLintFor pkgs;
          tagList = lib.concatStringsSep "," service.tags;
          workflowSources = sourceOf (lib.fileset.maybeMissing ./.github/workflows);
          # Shell scripts have no extension (or .sh); Go sources and go.mod never match.
          isShellScript = file: !lib.hasInfix "." file.name || file.hasExt "sh";
          shellSources = sourceOf (
            lib.fileset.unions [
              (lib.fileset.fileFilter isShellScript ./scripts)
              ./.ci/run
            ]
          );
          nixSources = sourceOf (lib.fileset.fileFilter (file: file.hasExt "nix") ./.);

          # A check that runs script with tools in a copy of src; it passes when
          # the script does. Each script first prints its tools' versions.
          sourceCheck =
            name: tools: src: script:
            pkgs.runCommand "${service.pname}-${name}"
              {
                nativeBuildInputs = tools;
              }
              ''
                cd ${src}
                ${script}
                touch "$out"
              '';

          # A check that runs in the package's own build environment: same Go,
          # same vendored modules (goModules), GOFLAGS=-mod=vendor, GOPROXY=off.
          goCheck =
            name: attrs:
            service.overrideAttrs (
              _:
              {
                pname = "${service.pname}-${name}";
                inherit (service) goModules;
                dontBuild = true;
                doCheck = true;
                installPhase = ''
                  runHook preInstall
                  touch $out
                  runHook postInstall
                '';
                dontFixup = true;
              }
              // attrs
            );
        in
        {
          package = service;

          tests = goCheck "tests" {
            nativeCheckInputs = [ pkgs.gotestsum ];
            __darwinAllowLocalNetworking = true;
            checkPhase = ''
              runHook preCheck
              go version
              gotestsum --version
              export HOME=$TMPDIR
              # Like buildGoModule's own checkPhase: tests run without -trimpath.
              export GOFLAGS=''${GOFLAGS//-trimpath/}
              gotestsum --format testname \
                --junitfile "$TMPDIR/junit.xml" \
                --jsonfile "$TMPDIR/test.json" \
                -- -tags=${tagList} ./...
              runHook postCheck
            '';
            installPhase = ''
              runHook preInstall
              mkdir -p $out
              cp "$TMPDIR/junit.xml" "$TMPDIR/test.json" $out/
              runHook postInstall
            '';
            # Test output may quote store paths; this output is a report, not a program.
            disallowedReferences = [ ];
          };

          vet = goCheck "vet" {
            checkPhase = ''
              runHook preCheck
              go version
              go vet -tags=${tagList} ./...
              runHook postCheck
            '';
          };

          golangci-lint = goCheck "golangci-lint" {
            src = sourceOf (lib.fileset.union serviceFiles ./.golangci.yml);
            nativeCheckInputs = [ golangci-lint ];
            checkPhase = ''
              runHook preCheck
              go version
              golangci-lint version
              export HOME=$TMPDIR
              export GOLANGCI_LINT_CACHE=$TMPDIR/golangci-lint
              golangci-lint run --config .golangci.yml --build-tags=${tagList} ./...
              runHook postCheck
            '';
          };

          gofmt = sourceCheck "gofmt" [ service.go ] (sourceOf goFiles) ''
            go version
            unformatted=$(gofmt -l .)
            if [ -n "$unformatted" ]; then
              echo "These files need gofmt -w:" >&2
              echo "$unformatted" >&2
              exit 1
            fi
          '';

          actionlint = sourceCheck "actionlint" [ pkgs.actionlint ] workflowSources ''
            actionlint -version
            shopt -s nullglob
            workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
            if [ ''${#workflows[@]} -eq 0 ]; then
              echo "No workflow files in .github/workflows" >&2
              exit 1
            fi
            actionlint "''${workflows[@]}"
          '';

          shellcheck = sourceCheck "shellcheck" [ pkgs.shellcheck ] shellSources ''
            shellcheck --version
            scripts=()
            for file in scripts/* .ci/run; do
              [ -f "$file" ] || continue
              case "$(head -n 1 "$file")" in
                "#!"*sh | "#!"*"sh "*) scripts+=("$file") ;;
              esac
            done
            if [ ''${#scripts[@]} -eq 0 ]; then
              echo "No shell scripts found in scripts/" >&2
              exit 1
            fi
            shellcheck "''${scripts[@]}"
          '';

          nixfmt = sourceCheck "nixfmt" [ pkgs.nixfmt ] nixSources ''
            nixfmt --version
            find . -name '*.nix' -exec nixfmt --check {} +
          '';
        }
        # The image ships its root's closure, which may hold what the
        # service runs (its runtime packages, a C library through cgo) but
        # never what only builds it.
        // lib.optionalAttrs pkgs.stdenv.hostPlatform.isLinux {
          closure =
            pkgs.runCommand "${service.pname}-closure"
              {
                closureInfo = pkgs.closureInfo {
                  rootPaths = [ self.packages.${system}.image-root ];
                };
                buildOnly = lib.concatMapStrings (d: "${d.name} ${d}\n") [
                  service.go
                  service.goModules
                  pkgs.stdenv.cc
                  pkgs.stdenv.cc.cc
                  pkgs.stdenv.cc.bintools
                  pkgs.stdenv.cc.bintools.bintools
                  pkgs.gnumake
                  pkgs.patchelf
                ];
              }
              ''
                found=0
                while read -r name path; do
                  [ -n "$path" ] || continue
                  if grep -qxF "$path" "$closureInfo/store-paths"; then
                    echo "The image would carry $name ($path), which only builds the service: find what refers to it with nix why-depends .#image-root $path and drop that reference (keep allowGoReference off; link C libraries, not the compiler)" >&2
                    found=1
                  fi
                done <<<"$buildOnly"
                [ "$found" = 0 ]
                touch "$out"
              '';
        }
      );
    };
}
