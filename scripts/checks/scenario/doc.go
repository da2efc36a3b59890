// Package scenario proves that the checks judge a template after its user's
// edits: on a copy of the repository it applies each routine edit (renaming,
// a new port, a Dependabot-shaped update, a new dependency) and asserts the
// check packages pass, then each real mistake and asserts they fail with a
// message naming the fix. The check packages, compiled once, run as
// scripts/test's default tier runs them (SCRIPTS_TEST_TIER=default), with
// SCRIPTS_REPO_ROOT pointing at the copy: a mistake rejected here is
// rejected by the default tier. The suite is itself in the full tier, and
// runs no scenario when the unedited repository already fails its checks.
package scenario
