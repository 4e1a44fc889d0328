# shellcheck shell=bash
# Shared by scripts/commit_state.sh and scripts/checkout_state.sh (sourced, not run).
#
# git_remote: git with the push/fetch token supplied by a credential helper. The helper text holds
# no secret: the token is read from COMMIT_STATE_TOKEN when git asks for it. "credential.helper="
# first clears any helper configured elsewhere.
git_remote() {
  if [[ -n "${COMMIT_STATE_TOKEN:-}" ]]; then
    # shellcheck disable=SC2016  # expanded by the helper's shell, not here
    git -c credential.helper= \
      -c credential.helper='!f() { test "$1" = get || exit 0; echo username=x-access-token; echo "password=${COMMIT_STATE_TOKEN}"; }; f' \
      "$@"
  else
    git "$@"
  fi
}

# With a state branch (STATE_BRANCH), the commit this run's state/ was read from is kept here by
# checkout_state.sh, and moved by commit_state.sh to what it pushed (the checkout's own branch, the
# default branch, is never moved or pushed).
readonly STATE_BASE_REF="refs/meta-supervisor/state-base"
