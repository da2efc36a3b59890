// Package pipeline holds the offline checks of the delivery pipeline: the
// GitHub workflows and dependabot.yml against the hardening policy (pins,
// permissions, triggers, the Dependabot-only vendorHash job, actionlint),
// their agreement with the files they rely on (fly.toml's port, the flake's
// checks that scripts/test --skip-flake-checks leaves to nix flake check),
// and scripts/deploy end to end against a stand-in flyctl and the real
// service.
package pipeline
