// Package scenario proves that the checks judge a template after its user's
// edits: on a copy of the repository it applies each routine edit (renaming,
// a new port, a Dependabot-shaped update, a new dependency) and asserts the
// check packages pass, then each real mistake and asserts they fail with a
// message naming the fix. The check packages run in this scripts/ module
// with SCRIPTS_REPO_ROOT pointing at the copy.
package scenario
