# A stub nixpkgs for evaluating flake.nix offline with nix-instantiate.
# Only the attributes flake.nix is known to use exist (each checked against
# nixpkgs' source, see the README notes), so a typo or an unverified attribute
# is an evaluation error here too. buildGoModule, runCommand and mkShell record
# their arguments; the result is a JSON summary of the flake's outputs.
{
  flakeDir,
  rev ? null,
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
    stringLength
    substring
    typeOf
    ;

  hasSuffix =
    suffix: s:
    stringLength s >= stringLength suffix
    && substring (stringLength s - stringLength suffix) (stringLength suffix) s == suffix;
  hasPrefix = prefix: s: substring 0 (stringLength prefix) s == prefix;
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
    inherit genAttrs fileset hasInfix;
    inherit (builtins) concatStringsSep;
    getExe = drv: "${drv}/bin/${drv.meta.mainProgram}";
  };

  fakeDrv = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/stub-${name}";
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
              goModules = fakeDrv "${final.pname}-${final.version}-go-modules";
              inherit go;
            };
          final = foldl' (prev: overlay: prev // overlay final prev) (base final) overlays;
        in
        final
        // {
          type = "derivation";
          outPath = "/nix/store/stub-${final.name}";
          _goDrv = true;
          _vendorHashPos = builtins.unsafeGetAttrPos "vendorHash" (userArgs final);
          overrideAttrs = f: make (overlays ++ [ (toExtension f) ]);
        };
    in
    make [ ];

  mkPkgs =
    system:
    let
      go_1_26 = fakeDrv "go-1.26";
      tool = fakeDrv;
    in
    {
      inherit lib go_1_26;
      stdenv.hostPlatform.system = system;
      buildGo126Module = buildGoModuleWith go_1_26;
      buildGoModule = buildGoModuleWith go_1_26;
      gopls = tool "gopls";
      gotestsum = tool "gotestsum";
      golangci-lint = tool "golangci-lint";
      actionlint = tool "actionlint";
      shellcheck = tool "shellcheck";
      flyctl = tool "flyctl";
      nixfmt = tool "nixfmt";
      wrk = tool "wrk";
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

  names = map (d: d.name);

  goDrvSummary = d: {
    inherit (d) name pname version;
    goModules = d.goModules.name;
    go = d.go.name;
    src = d.src.files or null;
    vendorHash = d.vendorHash or "missing";
    vendorHashPos = d._vendorHashPos;
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
    nativeCheckInputs = names (d.nativeCheckInputs or [ ]);
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
        nativeBuildInputs = names (d._runCommand.env.nativeBuildInputs or [ ]);
        env = mapAttrs (_: toString) (removeAttrs d._runCommand.env [ "nativeBuildInputs" ]);
      }
    else
      throw "check ${d.name or "?"} is neither a buildGoModule nor a runCommand";
in
{
  inherit (flake) description inputs;
  outputNames = attrNames outputs;
  packages = mapAttrs (_: mapAttrs (_: goDrvSummary)) outputs.packages;
  apps = outputs.apps;
  devShells = mapAttrs (_: mapAttrs (_: s: names s._shell.packages)) outputs.devShells;
  formatter = mapAttrs (_: d: d.name) outputs.formatter;
  checks = mapAttrs (_: mapAttrs (_: checkSummary)) outputs.checks;
}
