// Package pipeline holds the offline checks of the delivery pipeline: the
// GitHub workflows and dependabot.yml against the hardening policy, and
// scripts/deploy end to end against a stand-in flyctl and the real service.
package pipeline
