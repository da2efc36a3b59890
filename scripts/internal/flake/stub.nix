# A stub nixpkgs for evaluating flake.nix offline with nix-instantiate, where
# real Nix cannot fetch nixpkgs. buildGoModule, runCommand and mkShell record
# their arguments and the result is a JSON summary of the flake's outputs.
# Every pkgs.<name> flake.nix mentions exists (a stand-in derivation), so a
# package added to the dev shell evaluates; real Nix catches a misspelt one.
# lib has only the functions flake.nix uses, each as nixpkgs defines it.
{
  flakeDir,
  rev ? null,
  # JSON: a list of installables as `nix build` resolves them, each
  # { installable; flake = "self" or an input's name; candidates = [ attribute paths ]; }.
  # -A installables gives their derivations (name, out; a list of
  # derivations gives one each) and evaluates nothing else of the flake.
  installables ? "[ ]",
}:
let
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    elem
    filter
    foldl'
    isAttrs
    isFunction
    isPath
    listToAttrs
    mapAttrs
    pathExists
    readDir
    readFile
    replaceStrings
    split
    stringLength
    substring
    typeOf
    ;

  hasSuffix =
    suffix: s:
    stringLength s >= stringLength suffix
    && substring (stringLength s - stringLength suffix) (stringLength suffix) s == suffix;
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
  removeSuffix =
    suffix: s: if hasSuffix suffix s then substring 0 (stringLength s - stringLength suffix) s else s;
  hasInfix =
    infix: s:
    let
      n = stringLength infix;
      go = i: i + n <= stringLength s && (substring i n s == infix || go (i + 1));
    in
    go 0;

  genAttrs =
    names: f:
    listToAttrs (
      map (name: {
        inherit name;
        value = f name;
      }) names
    );

  # File sets are lists of absolute file names. Like lib.fileset, coercing a
  # path that does not exist is an error; maybeMissing is the way around it.
  filesUnder =
    dir:
    concatMap (
      name:
      let
        path = "${toString dir}/${name}";
      in
      if (readDir dir).${name} == "directory" then filesUnder (/. + path) else [ path ]
    ) (attrNames (readDir dir));
  typeOfPath = path: (readDir (dirOf path)).${baseNameOf path};
  coerce =
    x:
    if isAttrs x && x ? _fileset then
      x.files
    else if isPath x then
      if !pathExists x then
        throw "lib.fileset: path ${toString x} does not exist"
      else if typeOfPath x == "directory" then
        filesUnder x
      else
        [ (toString x) ]
    else
      throw "lib.fileset: expected a file set or a path, got a ${typeOf x}";
  mkFileset = files: {
    _fileset = true;
    inherit files;
  };
  fileset = {
    unions = filesets: mkFileset (concatMap coerce filesets);
    union = a: b: mkFileset (coerce a ++ coerce b);
    difference =
      a: b:
      let
        drop = coerce b;
      in
      mkFileset (filter (f: !elem f drop) (coerce a));
    maybeMissing = path: if pathExists path then mkFileset (coerce path) else mkFileset [ ];
    fileFilter =
      pred: dir:
      if !pathExists dir then
        throw "lib.fileset.fileFilter: ${toString dir} does not exist"
      else
        mkFileset (
          filter (
            f:
            let
              name = baseNameOf f;
            in
            pred {
              inherit name;
              type = "regular";
              hasExt = ext: hasSuffix ".${ext}" name;
            }
          ) (filesUnder dir)
        );
    toSource =
      { root, fileset }:
      let
        prefix = "${toString root}/";
        files = map (
          f:
          if hasPrefix prefix f then
            substring (stringLength prefix) (stringLength f) f
          else
            throw "lib.fileset.toSource: ${f} is outside ${toString root}"
        ) (coerce fileset);
      in
      {
        inherit files;
        outPath = "/stub-source{${concatStringsSep "," files}}";
      };
  };

  lib = {
    inherit
      genAttrs
      fileset
      hasInfix
      replaceStrings
      ;
    inherit (builtins)
      concatStringsSep
      filter
      match
      attrNames
      listToAttrs
      ;
    concatMapStrings = f: list: builtins.concatStringsSep "" (map f list);
    inherit functionArgs;
    throwIf = cond: msg: if cond then throw msg else x: x;
    optionalAttrs = cond: set: if cond then set else { };
    # lib/meta.nix: without meta.mainProgram, getExe warns and takes the name.
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram or drv.pname or drv.name}";
    # lib/strings.nix
    fileContents = file: removeSuffix "\n" (readFile file);
  };

  fakeDrv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/stub-${name}";
  };

  # lib/trivial.nix: functionArgs sees through functors.
  functionArgs =
    f:
    if f ? __functor then
      f.__functionArgs or (functionArgs (f.__functor f))
    else
      builtins.functionArgs f;
  # lib/customisation.nix makeOverridable: override takes the same arguments
  # as the package function (mirrorFunctionArgs), so functionArgs lists them.
  makeOverridable =
    f: args:
    f args
    // {
      override = {
        __functor =
          _: newArgs: makeOverridable f (args // (if isFunction newArgs then newArgs args else newArgs));
        __functionArgs = functionArgs f;
      };
    };

  # lib.toExtension, as mkDerivation's overrideAttrs applies it.
  toExtension =
    f:
    if isFunction f then
      (
        final: prev:
        let
          r = f prev;
        in
        if isFunction r then f final prev else r
      )
    else
      (final: prev: f);

  # stdenv.cc is the cc-wrapper: passthru cc (the compiler) and bintools
  # (pkgs/build-support/cc-wrapper/default.nix), the bintools-wrapper with
  # passthru bintools, the unwrapped binutils (bintools-wrapper/default.nix).
  stdenv = fakeDrv "stdenv" // {
    cc = fakeDrv "gcc-wrapper" // {
      cc = fakeDrv "gcc";
      bintools = fakeDrv "binutils-wrapper" // {
        bintools = fakeDrv "binutils";
      };
    };
  };
  gitMinimal = fakeDrv "gitMinimal" // {
    meta.mainProgram = "git";
  };
  cacert = fakeDrv "cacert";

  # goModules as pkgs/build-support/go/module.nix makes it: a fixed-output
  # derivation named after the package (and go.sum), built with go, git and
  # cacert, then overrideModAttrs. Its output path depends only on its name and
  # vendorHash, as for any fixed-output derivation.
  goModulesOf =
    final:
    let
      goSumSuffix =
        if final.goSum or null == null then
          ""
        else
          "-" + substring 0 32 (builtins.hashString "sha256" (readFile final.goSum));
      attrs0 = {
        name = "${final.name or "${final.pname}-${final.version}"}-go-modules${goSumSuffix}";
        nativeBuildInputs = [
          final.go
          gitMinimal
          cacert
        ];
      };
      attrs = attrs0 // toExtension (final.overrideModAttrs or { }) attrs0 attrs0;
    in
    attrs
    // {
      type = "derivation";
      outPath = "/nix/store/stub-fod-${builtins.hashString "sha256" "${attrs.name}:${toString final.vendorHash}"}-${attrs.name}";
    };

  # buildGoModule: a fixpoint over finalAttrs like lib.extendMkDerivation, so
  # overrideAttrs and finalAttrs behave as in nixpkgs.
  buildGoModuleWith =
    go: fpargs:
    let
      userArgs0 = if isFunction fpargs then fpargs else (_: fpargs);
      # Like nixpkgs' mkDerivation: these belong in env, a top-level one is an
      # evaluation error ("overlapping" with env).
      userArgs =
        final:
        let
          args = userArgs0 final;
        in
        if args ? CGO_ENABLED || args ? GOFLAGS then
          throw "buildGoModule: set env.CGO_ENABLED / env.GOFLAGS, not top-level CGO_ENABLED or GOFLAGS"
        else
          args;
      make =
        overlays:
        let
          base =
            final:
            userArgs final
            // {
              name = "${final.pname}-${final.version}";
              goModules = goModulesOf final;
              inherit go stdenv;
            };
          final = foldl' (prev: overlay: prev // overlay final prev) (base final) overlays;
        in
        final
        // {
          type = "derivation";
          # Like a real derivation's, the path needs its inputs: the source
          # (every file of its fileset) and the vendored modules (go.sum and
          # the vendorHash). Its other attributes, .go among them, do not.
          outPath = builtins.seq (toString (final.src or "")) (
            builtins.seq final.goModules.outPath "/nix/store/stub-${final.name}"
          );
          _goDrv = true;
          overrideAttrs = f: make (overlays ++ [ (toExtension f) ]);
        };
    in
    make [ ];

  # Every name the flake's top-level .nix files could take from pkgs
  # (pkgs.<name>, legacyPackages.${system}.<name>, or a bare name under
  # `with pkgs;`), as a stand-in derivation named <name>. Names bound in the
  # flake itself shadow these; the real packages below replace them.
  nixFiles = filter (hasSuffix ".nix") (attrNames (readDir dir));
  mentioned =
    src: map builtins.head (filter builtins.isList (split "([A-Za-z_][A-Za-z0-9_'-]*)" src));

  mkPkgs =
    system:
    let
      go_1_26 = fakeDrv "go_1_26" // {
        meta.mainProgram = "go";
      };
      buildGo126Module = buildGoModuleWith go_1_26;
      # Deliberately another Go than the package's: the flake must build
      # golangci-lint with the package's Go, whatever nixpkgs chooses.
      buildGo125Module = buildGoModuleWith (fakeDrv "go_1_25");
    in
    genAttrs (concatMap (f: mentioned (readFile (dir + "/${f}"))) nixFiles) fakeDrv
    // {
      inherit
        lib
        go_1_26
        buildGo126Module
        buildGo125Module
        gitMinimal
        cacert
        ;
      stdenv = stdenv // {
        hostPlatform = {
          inherit system;
          isLinux = hasSuffix "-linux" system;
        };
      };
      buildGoModule = buildGo126Module;
      golangci-lint = makeOverridable (
        { buildGo126Module }:
        buildGo126Module {
          pname = "golangci-lint";
          version = "stub";
          vendorHash = "sha256-stub";
          meta.mainProgram = "golangci-lint";
        }
      ) { buildGo126Module = buildGo125Module; };
      nixfmt-tree = fakeDrv "nixfmt-tree" // {
        meta.mainProgram = "treefmt";
      };
      mkShell = args: fakeDrv "nix-shell" // { _shell = args; };
      runCommand =
        name: env: script:
        fakeDrv name
        // {
          _runCommand = {
            inherit env script;
          };
        };
      closureInfo = { rootPaths }: fakeDrv "closure-info" // { inherit rootPaths; };
    };

  systems = [
    "x86_64-linux"
    "aarch64-linux"
    "x86_64-darwin"
    "aarch64-darwin"
    "riscv64-linux"
  ];
  nixpkgs = {
    inherit lib;
    outPath = "/nix/store/stub-nixpkgs";
    legacyPackages = genAttrs systems mkPkgs;
  };

  dir = if isPath flakeDir then flakeDir else /. + flakeDir;
  flake = import (dir + "/flake.nix");
  revision = if rev == null then { } else { shortRev = rev; };
  self = outputs // revision // { outPath = toString dir; };
  outputs = flake.outputs { inherit self nixpkgs; };

  # A derivation by name, with the Go that built it for buildGoModule ones.
  tool = d: {
    name = d.pname or d.name;
    go = d.go.name or null;
  };
  tools = map tool;
  names = map (d: d.name);

  goDrvSummary = d: {
    inherit (d) name pname version;
    goModules = {
      inherit (d.goModules) name;
      out = d.goModules.outPath;
      nativeBuildInputs = names d.goModules.nativeBuildInputs;
    };
    go = d.go.name;
    stdenv = d.stdenv.name;
    src = d.src.files or null;
    vendorHash = d.vendorHash or "missing";
    goSum = if d ? goSum then toString d.goSum else null;
    modRoot = d.modRoot or "./";
    proxyVendor = d.proxyVendor or false;
    allowGoReference = d.allowGoReference or false;
    subPackages = d.subPackages or null;
    tags = d.tags or [ ];
    ldflags = d.ldflags or [ ];
    env = d.env or { };
    meta = d.meta or { };
    doCheck = d.doCheck or null;
    dontBuild = d.dontBuild or false;
    checkPhase = d.checkPhase or null;
    installPhase = d.installPhase or null;
    nativeCheckInputs = tools (d.nativeCheckInputs or [ ]);
    disallowedReferences = names (d.disallowedReferences or [ ]);
    # Not "outPath": builtins.toJSON would print the set as that string.
    out = d.outPath;
  };

  checkSummary =
    d:
    if d ? _goDrv then
      { kind = "buildGoModule"; } // goDrvSummary d
    else if d ? _runCommand then
      {
        kind = "runCommand";
        inherit (d) name;
        inherit (d._runCommand) script;
        nativeBuildInputs = tools (d._runCommand.env.nativeBuildInputs or [ ]);
        env = mapAttrs (_: toString) (removeAttrs d._runCommand.env [ "nativeBuildInputs" ]);
      }
    else
      throw "check ${d.name or "?"} is neither a buildGoModule nor a runCommand";

  attrAt =
    root: path:
    foldl' (
      acc: name: if acc != null && isAttrs acc && acc ? ${name} then acc.${name} else null
    ) root path;
  # An installable's value at the first of its candidate paths that exists,
  # as Nix tries packages.<system>.<attr>, legacyPackages.<system>.<attr>, <attr>.
  resolve =
    i:
    let
      root =
        if i.flake == "self" then
          outputs
        else if i.flake == "nixpkgs" then
          nixpkgs
        else
          throw "installable ${i.installable}: the flake has no input ${i.flake} (the stub knows only nixpkgs)";
      found = filter (v: v != null) (map (attrAt root) i.candidates);
    in
    if found == [ ] then
      throw "installable ${i.installable}: no such attribute"
    else
      builtins.head found;
  filterAttrs =
    pred: set:
    listToAttrs (
      concatMap (
        name:
        if pred name set.${name} then
          [
            {
              inherit name;
              value = set.${name};
            }
          ]
        else
          [ ]
      ) (attrNames set)
    );
  drvRef = d: {
    inherit (d) name;
    out = d.outPath;
  };
in
{
  installables = concatMap (
    i:
    let
      v = resolve i;
    in
    if builtins.isList v then map drvRef v else [ (drvRef v) ]
  ) (builtins.fromJSON installables);
  inherit (flake) description inputs;
  outputNames = attrNames outputs;
  packages = mapAttrs (_: ps: mapAttrs (_: goDrvSummary) (filterAttrs (_: d: d ? _goDrv) ps)) outputs.packages;
  # The other packages (the image roots), as runCommand checks are summarised.
  roots = mapAttrs (
    _: ps: mapAttrs (_: checkSummary) (filterAttrs (_: d: !(d ? _goDrv)) ps)
  ) outputs.packages;
  apps = outputs.apps;
  devShells = mapAttrs (_: mapAttrs (_: s: tools s._shell.packages)) outputs.devShells;
  formatter = mapAttrs (_: d: {
    inherit (d) name;
    mainProgram = d.meta.mainProgram or null;
  }) outputs.formatter;
  templates = mapAttrs (_: t: t // { path = toString t.path; }) (outputs.templates or { });
  checks = mapAttrs (_: mapAttrs (_: checkSummary)) outputs.checks;
}
