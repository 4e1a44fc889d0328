#!/usr/bin/env bash
# Commit state/ (and nothing else) as github-actions[bot] and push it to the checkout's branch.
#
# - Only paths under state/ are staged and committed; policy/, data/, outbox/ and anything else in
#   the working tree (even if already staged) stay out of the commit.
# - Nothing changed under state/: no commit, exit 0, and it says so.
# - The subject says what changed: "state: reconcile +1234 rows; models h24 promoted; 3 alerts";
#   the body lists every changed state file with its added/removed line counts.
# - Push: up to COMMIT_STATE_MAX_TRIES attempts of fetch -> rebase onto the remote branch -> push,
#   sleeping random(1..5) s * attempt * COMMIT_STATE_SLEEP_SCALE between attempts (a lost race with
#   another push). A rebase conflict is never auto-resolved: state/reconciled/*.jsonl is append-only
#   and the state-writing workflows share one concurrency group, so a conflict means two writers
#   raced. The rebase is aborted, nothing is pushed, and the script exits 3 with the files named.
#
# Environment (all optional):
#   COMMIT_STATE_TOKEN       token for fetch/push over HTTPS, handed to git by a credential helper
#                            that reads it from the environment (never written to .git/config or argv)
#   COMMIT_STATE_BRANCH      branch to push (default: GITHUB_REF_NAME when GITHUB_REF_TYPE is not
#                            "tag", else the current branch)
#   COMMIT_STATE_REMOTE      remote (default: origin)
#   COMMIT_STATE_MAX_TRIES   push attempts (default: 5)
#   COMMIT_STATE_SLEEP_SCALE multiplier of the back-off (default: 1; 0 in tests)
#   GITHUB_OUTPUT            receives committed=true|false, sha=<pushed commit>, pushed=true|false
#
# Exit codes: 0 committed and pushed, or nothing to do; 1 usage/setup problem; 2 push kept failing;
# 3 rebase conflict (aborted, nothing pushed).
set -euo pipefail

readonly BOT_NAME="github-actions[bot]"
readonly BOT_EMAIL="41898282+github-actions[bot]@users.noreply.github.com"
readonly STATE_DIR="state"

max_tries="${COMMIT_STATE_MAX_TRIES:-5}"
sleep_scale="${COMMIT_STATE_SLEEP_SCALE:-1}"
remote="${COMMIT_STATE_REMOTE:-origin}"
export GIT_TERMINAL_PROMPT=0 # never wait for a password on a runner

say() { printf 'commit_state: %s\n' "$*"; }

die() {
  local code="$1"
  shift
  if [[ "${GITHUB_ACTIONS:-}" == "true" ]]; then
    printf '::error title=commit_state::%s\n' "$*"
  fi
  printf 'commit_state: error: %s\n' "$*" >&2
  exit "$code"
}

# The bot identity wins over any GIT_AUTHOR_*/GIT_COMMITTER_* in the environment (those beat -c user.*).
as_bot() {
  GIT_AUTHOR_NAME="$BOT_NAME" GIT_AUTHOR_EMAIL="$BOT_EMAIL" \
    GIT_COMMITTER_NAME="$BOT_NAME" GIT_COMMITTER_EMAIL="$BOT_EMAIL" "$@"
}

set_output() {
  if [[ -n "${GITHUB_OUTPUT:-}" ]]; then
    printf '%s=%s\n' "$1" "$2" >>"$GITHUB_OUTPUT"
  fi
}

# git with the push token supplied by a credential helper. The helper text holds no secret: the
# token is read from the environment when git asks for it. "credential.helper=" first clears any
# helper configured elsewhere.
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

[[ "$max_tries" =~ ^[1-9][0-9]*$ ]] || die 1 "COMMIT_STATE_MAX_TRIES must be a positive integer, got '$max_tries'"
[[ "$sleep_scale" =~ ^[0-9]+$ ]] || die 1 "COMMIT_STATE_SLEEP_SCALE must be a whole number, got '$sleep_scale'"

top="$(git rev-parse --show-toplevel 2>/dev/null)" || die 1 "not inside a git work tree: $(pwd)"
cd "$top"

branch="${COMMIT_STATE_BRANCH:-}"
if [[ -z "$branch" && -n "${GITHUB_REF_NAME:-}" && "${GITHUB_REF_TYPE:-branch}" == "branch" ]]; then
  branch="$GITHUB_REF_NAME"
fi
if [[ -z "$branch" ]]; then
  branch="$(git symbolic-ref --quiet --short HEAD)" ||
    die 1 "detached HEAD and no branch given (set COMMIT_STATE_BRANCH or GITHUB_REF_NAME)"
fi
git check-ref-format --branch "$branch" >/dev/null 2>&1 || die 1 "not a valid branch name: '$branch'"
rebasing() { [[ -d "$(git rev-parse --git-path rebase-merge)" || -d "$(git rev-parse --git-path rebase-apply)" ]]; }
if rebasing; then
  die 1 "a rebase is in progress in $top; refusing to commit on top of it"
fi

# ---- stage state/ only ------------------------------------------------------------------------
if [[ ! -d "$STATE_DIR" ]] && ! git ls-files --error-unmatch -- "$STATE_DIR" >/dev/null 2>&1; then
  say "no $STATE_DIR/ folder and nothing tracked under it: nothing to commit"
  set_output committed false
  set_output pushed false
  exit 0
fi
git add --all -- "$STATE_DIR"
if git diff --cached --quiet -- "$STATE_DIR"; then
  say "nothing changed under $STATE_DIR/: no commit"
  set_output committed false
  set_output pushed false
  exit 0
fi

# ---- the message ----------------------------------------------------------------------------
# numstat lines: "<added>\t<removed>\t<path>" ("-" for binary files)
numstat="$(git diff --cached --no-renames --numstat -- "$STATE_DIR")"
name_status="$(git diff --cached --no-renames --name-status -- "$STATE_DIR")"
files_changed="$(printf '%s\n' "$numstat" | grep -c .)"
rows_added="$(printf '%s\n' "$numstat" |
  awk -F '\t' '$3 ~ /^state\/reconciled\/.*\.jsonl$/ && $1 ~ /^[0-9]+$/ { n += $1 } END { print n + 0 }')"

changed() { printf '%s\n' "$numstat" | awk -F '\t' -v p="$1" '$3 == p { found = 1 } END { exit !found }'; }

# Facts from the JSON state files this commit changes (best effort: a missing python or an
# unexpected shape just leaves the fact out).
facts=""
python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  python_bin="$(command -v python3 || command -v python || true)"
fi
if [[ -n "$python_bin" ]]; then
  want_train=0
  want_alerts=0
  if changed "$STATE_DIR/models/train_report.json"; then want_train=1; fi
  if changed "$STATE_DIR/divergence_alerts.json"; then want_alerts=1; fi
  facts="$("$python_bin" - "$STATE_DIR" "$want_train" "$want_alerts" <<'PY' 2>/dev/null || true
import json, sys
state, want_train, want_alerts = sys.argv[1], sys.argv[2] == "1", sys.argv[3] == "1"
out = []
if want_train:
    try:
        with open(f"{state}/models/train_report.json", encoding="utf-8") as f:
            horizons = json.load(f).get("horizons", {})
        promoted = sorted((h for h, d in horizons.items() if d.get("decision") == "promoted"), key=int)
        kept = sorted((h for h, d in horizons.items() if d.get("decision") != "promoted"), key=int)
        if promoted:
            out.append("models " + ",".join(f"h{h}" for h in promoted) + " promoted")
        elif kept:
            out.append("models retrained, none promoted")
    except Exception:
        pass
if want_alerts:
    try:
        with open(f"{state}/divergence_alerts.json", encoding="utf-8") as f:
            n = len(json.load(f).get("alerts", []))
        out.append(f"{n} alert" + ("" if n == 1 else "s"))
    except Exception:
        pass
print("; ".join(out))
PY
)"
fi

parts=()
if ((rows_added > 0)); then parts+=("reconcile +${rows_added} rows"); fi
if [[ -n "$facts" ]]; then parts+=("$facts"); fi
if ((${#parts[@]} == 0)); then
  parts+=("update ${files_changed} file$([[ "$files_changed" == 1 ]] || echo s)")
fi
subject="state: ${parts[0]}"
for part in "${parts[@]:1}"; do subject+="; ${part}"; done

body="$(printf '%s\n' "$name_status" | while IFS=$'\t' read -r status path; do
  counts="$(printf '%s\n' "$numstat" | awk -F '\t' -v p="$path" '$3 == p { print "+" $1 " -" $2; exit }')"
  printf '%s %s (%s)\n' "${status:0:1}" "$path" "${counts:-binary}"
done)"

message="$subject

Changed state files (${files_changed}):
${body}"
if [[ -n "${GITHUB_RUN_ID:-}" && -n "${GITHUB_REPOSITORY:-}" ]]; then
  message+="

Run: ${GITHUB_SERVER_URL:-https://github.com}/${GITHUB_REPOSITORY}/actions/runs/${GITHUB_RUN_ID}"
fi

# --only with a pathspec: the commit holds state/ only, whatever else is staged.
as_bot git commit --quiet --no-verify --only --message "$message" -- "$STATE_DIR"
say "committed $(git rev-parse --short HEAD): $subject"
set_output committed true

# ---- push with fetch/rebase/retry ---------------------------------------------------------------
rebase_failed() {
  local why="$1" files
  set_output pushed false
  if ! rebasing; then
    die 3 "rebase onto ${remote}/${branch} failed before it started: ${why}"
  fi
  files="$(git diff --name-only --diff-filter=U | tr '\n' ' ')"
  git rebase --abort >/dev/null 2>&1 || true
  die 3 "rebase of the state commit onto ${remote}/${branch} conflicts in: ${files:-unknown files}." \
    "state/ is append-only and runs are serialized, so another writer changed the same state." \
    "Aborted the rebase and pushed nothing; inspect ${remote}/${branch} (the next run recomputes from it)."
}

attempt=1
while :; do
  if fetch_err="$(git_remote fetch --quiet "$remote" "+refs/heads/${branch}:refs/remotes/${remote}/${branch}" 2>&1)"; then
    if ! git merge-base --is-ancestor "refs/remotes/${remote}/${branch}" HEAD; then
      say "${remote}/${branch} moved; rebasing the state commit onto it"
      # --autostash: other local edits (data/, policy/, ...) are set aside and restored untouched.
      rebase_err="$(as_bot git rebase --quiet --autostash "refs/remotes/${remote}/${branch}" 2>&1)" ||
        rebase_failed "$(printf '%s' "$rebase_err" | head -n 1)"
    fi
  else
    say "fetch of ${remote}/${branch} failed (a new branch, or a network problem): $(printf '%s' "$fetch_err" | head -n 1)"
  fi
  if git_remote push --quiet "$remote" "HEAD:refs/heads/${branch}"; then
    sha="$(git rev-parse HEAD)"
    say "pushed ${sha:0:12} to ${remote}/${branch} (attempt ${attempt}/${max_tries})"
    set_output sha "$sha"
    set_output pushed true
    exit 0
  fi
  if ((attempt >= max_tries)); then
    set_output pushed false
    die 2 "push to ${remote}/${branch} failed ${max_tries} times; the state commit is only local"
  fi
  delay=$(((RANDOM % 5 + 1) * attempt * sleep_scale))
  say "push rejected or failed (attempt ${attempt}/${max_tries}); retrying in ${delay}s"
  sleep "$delay"
  attempt=$((attempt + 1))
done
