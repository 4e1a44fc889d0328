#!/usr/bin/env bash
# Put the state branch's state/ into the working tree, before reconcile, train or evaluate read it.
#
# Usage: checkout_state.sh [-h|--help]   (settings from the environment)
#
# With a state branch, state/ lives on its own branch (STATE_BRANCH, e.g. "meta-supervisor-state")
# that holds only state/: the default branch is never pushed, so a fully protected default branch
# works with the plain GITHUB_TOKEN. This script fetches that branch and writes its state/ into the
# checkout (replacing any state/ there), and records the commit it came from (a local ref that
# commit_state.sh builds on). A branch that does not exist yet means a first run: state/ starts
# empty. A fetch that fails for any other reason stops the job (exit 2): starting from an empty
# state would re-read every input.
#
# Environment: STATE_BRANCH (required), COMMIT_STATE_REMOTE (default origin), COMMIT_STATE_TOKEN
# (for HTTPS, as in commit_state.sh). Exit: 0 done; 1 usage; 2 the remote could not be read.
set -euo pipefail

case "${1:-}" in
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  "") ;;
  *)
    printf 'checkout_state: error: unknown argument %q (see --help)\n' "$1" >&2
    exit 1
    ;;
esac
# shellcheck source=scripts/lib/git_remote.sh
source "$(dirname "$0")/lib/git_remote.sh"
export GIT_TERMINAL_PROMPT=0

branch="${STATE_BRANCH:-}"
remote="${COMMIT_STATE_REMOTE:-origin}"
[[ -n "$branch" ]] || {
  printf 'checkout_state: error: STATE_BRANCH is not set\n' >&2
  exit 1
}
git check-ref-format --branch "$branch" >/dev/null 2>&1 || {
  printf 'checkout_state: error: not a valid branch name: %s\n' "$branch" >&2
  exit 1
}
cd "$(git rev-parse --show-toplevel)"

status=0
git_remote ls-remote --exit-code --heads "$remote" "refs/heads/${branch}" >/dev/null 2>&1 || status=$?
if ((status == 2)); then
  printf 'checkout_state: %s/%s does not exist yet: a first run, state/ starts empty\n' "$remote" "$branch"
  rm -rf state
  git update-ref -d "$STATE_BASE_REF" 2>/dev/null || true
  exit 0
elif ((status != 0)); then
  printf 'checkout_state: error: cannot read %s (exit %s); not starting from an empty state\n' "$remote" "$status" >&2
  exit 2
fi
git_remote fetch --quiet "$remote" "+refs/heads/${branch}:refs/remotes/${remote}/${branch}" || {
  printf 'checkout_state: error: fetch of %s/%s failed\n' "$remote" "$branch" >&2
  exit 2
}
sha="$(git rev-parse "refs/remotes/${remote}/${branch}")"
rm -rf state
if git cat-file -e "${sha}:state" 2>/dev/null; then
  git archive --format=tar "$sha" state | tar -xf -
fi
git update-ref "$STATE_BASE_REF" "$sha"
printf 'checkout_state: state/ from %s/%s at %s\n' "$remote" "$branch" "${sha:0:12}"
