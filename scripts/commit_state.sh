#!/usr/bin/env bash
# Commit state/ (and nothing else) as github-actions[bot] and push it to the checkout's branch.
#
# Usage: commit_state.sh [-h|--help]   (no other arguments; settings come from the environment)
#
# - Publishes exactly one new commit on top of what the remote branch holds now: its tree is the
#   remote's tree with state/ replaced by the working tree's state/. Nothing else of the runner's
#   checkout is pushed: not its other files, not its local history (a commit the remote removed by
#   a force-push, e.g. a leaked secret, is never republished). Built on a temporary index; the
#   checkout's files are left as they are; its branch then points at the commit and its index
#   entries under state/ match it (entries elsewhere are left as a step staged them).
# - Nothing changed under state/, or only volatile fields (the run report of a run that read and
#   wrote nothing, `generated_at` stamps): no commit, exit 0, and it says so.
# - The subject says what changed: "state: reconcile +1234 rows; models h24 promoted; 3 alerts";
#   the body lists every changed state file with its added/removed line counts.
# - Push: up to COMMIT_STATE_MAX_TRIES attempts of fetch -> rebuild on the remote tip -> push,
#   sleeping random(1..5) s * attempt * COMMIT_STATE_SLEEP_SCALE between attempts (a lost race with
#   another push). When the remote's state/ is no longer the state/ this run started from, another
#   writer published state meanwhile (the state-writing workflows share one concurrency group, so
#   that is two writers racing): nothing is pushed and the script exits 3 naming the files.
#
# Environment (all optional):
#   COMMIT_STATE_TOKEN       token for fetch/push over HTTPS, handed to git by a credential helper
#                            that reads it from the environment (never written to .git/config or argv)
#   STATE_BRANCH             the state branch (see checkout_state.sh): commits hold only state/, the
#                            run's base is the commit checkout_state.sh fetched, and the checkout's
#                            own branch is never moved or pushed; unset: the checkout's branch
#   COMMIT_STATE_BRANCH      branch to push without a state branch (default: GITHUB_REF_NAME when
#                            GITHUB_REF_TYPE is not "tag", else the current branch)
#   COMMIT_STATE_REMOTE      remote (default: origin)
#   COMMIT_STATE_MAX_TRIES   push attempts (default: 5)
#   COMMIT_STATE_SLEEP_SCALE multiplier of the back-off (default: 1; 0 in tests)
#   GITHUB_OUTPUT            receives committed=true|false, sha=<pushed commit>, pushed=true|false
#
# Exit codes: 0 committed and pushed, or nothing to do; 1 usage/setup problem; 2 push kept failing;
# 3 another writer changed state/ on the remote (nothing pushed).
set -euo pipefail

if (($# > 1)); then
  printf 'commit_state: error: takes no arguments (see --help)\n' >&2
  exit 1
fi
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }
case "${1:-}" in
  -h | --help)
    usage
    exit 0
    ;;
  "") ;;
  *)
    printf 'commit_state: error: unknown argument %q (see --help; settings come from the environment)\n' "$1" >&2
    exit 1
    ;;
esac

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

# shellcheck source=scripts/lib/git_remote.sh
source "$(dirname "$0")/lib/git_remote.sh" # git_remote (token via a credential helper), STATE_BASE_REF

[[ "$max_tries" =~ ^[1-9][0-9]*$ ]] || die 1 "COMMIT_STATE_MAX_TRIES must be a positive integer, got '$max_tries'"
[[ "$sleep_scale" =~ ^[0-9]+$ ]] || die 1 "COMMIT_STATE_SLEEP_SCALE must be a whole number, got '$sleep_scale'"

top="$(git rev-parse --show-toplevel 2>/dev/null)" || die 1 "not inside a git work tree: $(pwd)"
cd "$top"

state_branch="${STATE_BRANCH:-}"
branch="${state_branch:-${COMMIT_STATE_BRANCH:-}}"
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

# ---- the state/ tree this run leaves, against the one it started from -----------------------
if [[ ! -d "$STATE_DIR" ]] && ! git ls-files --error-unmatch -- "$STATE_DIR" >/dev/null 2>&1; then
  say "no $STATE_DIR/ folder and nothing tracked under it: nothing to commit"
  set_output committed false
  set_output pushed false
  exit 0
fi
readonly EMPTY_TREE="$(git hash-object -t tree /dev/null)"
# Everything below works on a temporary index: the checkout's own index (whatever a step staged)
# and its files are never touched, so nothing but state/ can reach the commit.
tmp_index="$(mktemp "${TMPDIR:-/tmp}/commit_state.XXXXXX")"
trap 'rm -f "$tmp_index"' EXIT
with_index() { GIT_INDEX_FILE="$tmp_index" "$@"; }

state_tree_of() { # the state/ tree of a commit, or the empty tree
  git rev-parse --verify --quiet "$1:$STATE_DIR" 2>/dev/null || printf '%s\n' "$EMPTY_TREE"
}
if [[ -n "$state_branch" ]]; then # what this run read its state from: checkout_state.sh recorded it
  base="$(git rev-parse --verify --quiet "$STATE_BASE_REF" || true)"
else
  base="$(git rev-parse --verify --quiet HEAD || true)"
fi
base_state="$EMPTY_TREE"
if [[ -n "$base" ]]; then base_state="$(state_tree_of "$base")"; fi
rm -f "$tmp_index"
add_flags=(--all)
if [[ -n "$state_branch" ]]; then add_flags+=(--force); fi # the default branch may well ignore state/
if [[ -d "$STATE_DIR" ]]; then with_index git add "${add_flags[@]}" -- "$STATE_DIR"; fi
new_state="$(with_index git write-tree --prefix="$STATE_DIR/" 2>/dev/null || printf '%s\n' "$EMPTY_TREE")"
if [[ "$new_state" == "$base_state" ]]; then
  say "nothing changed under $STATE_DIR/: no commit"
  set_output committed false
  set_output pushed false
  exit 0
fi

# ---- the message ----------------------------------------------------------------------------
# numstat lines: "<added>\t<removed>\t<path>" ("-" for binary files)
prefix_state() { awk -F '\t' -v OFS='\t' -v d="$STATE_DIR/" '{ $NF = d $NF; print }'; }
numstat="$(git diff-tree -r --no-renames --numstat "$base_state" "$new_state" | prefix_state)"
name_status="$(git diff-tree -r --no-renames --name-status "$base_state" "$new_state" | prefix_state)"
files_changed="$(printf '%s\n' "$numstat" | grep -c .)"
rows_added="$(printf '%s\n' "$numstat" |
  awk -F '\t' '$3 ~ /^state\/reconciled\/.*\.jsonl$/ && $1 ~ /^[0-9]+$/ { n += $1 } END { print n + 0 }')"

changed() { printf '%s\n' "$numstat" | awk -F '\t' -v p="$1" '$3 == p { found = 1 } END { exit !found }'; }

python_bin="${PYTHON:-}"
if [[ -z "$python_bin" ]]; then
  python_bin="$(command -v python3 || command -v python || true)"
fi

# Volatile-only: every changed file is JSON that differs from the committed one only in its
# `generated_at` stamps, or is the reconcile report of a run that read, wrote, rejected and
# dropped nothing. Such a run has nothing to publish: without this, every hourly run committed
# (~24 empty-ish commits a day). Without python, every change counts.
volatile_only() {
  [[ -n "$python_bin" ]] || return 1
  local path
  while IFS=$'\t' read -r _ _ path; do
    [[ -n "$path" ]] || continue
    git cat-file -e "$base_state:${path#"$STATE_DIR/"}" 2>/dev/null || return 1 # a new file
    git cat-file -p "$base_state:${path#"$STATE_DIR/"}" |
      "$python_bin" -c '
import json, sys
old, new_path = sys.stdin.read(), sys.argv[1]
def strip(v):
    if isinstance(v, dict):
        return {k: strip(x) for k, x in v.items() if k != "generated_at"}
    if isinstance(v, list):
        return [strip(x) for x in v]
    return v
try:
    a = json.loads(old)
    with open(new_path, encoding="utf-8") as f:
        b = json.load(f)
except Exception:
    sys.exit(1)
if strip(a) == strip(b):
    sys.exit(0)
idle = isinstance(b, dict) and b.get("rows_written") == 0 and b.get("rejected_count") == 0 and not b.get("dropped")
sys.exit(0 if new_path.endswith("state/reconcile_report.json") and idle else 1)
' "$path" || return 1
  done <<<"$numstat"
}
if volatile_only; then
  say "only volatile fields changed under $STATE_DIR/ (run stamps, an idle run report): no commit"
  set_output committed false
  set_output pushed false
  exit 0
fi

# Facts from the JSON state files this commit changes (best effort: a missing python or an
# unexpected shape just leaves the fact out).
facts=""
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

# ---- build on the remote tip, push, retry ------------------------------------------------------
# The commit: the remote tip's tree with state/ replaced by this run's, parent the remote tip.
build_commit() { # $1 = parent commit or ""
  rm -f "$tmp_index"
  # Each step checked: this runs in a command substitution, where set -e does not stop the script.
  if [[ -n "$1" ]]; then with_index git read-tree "$1" || return 1; else with_index git read-tree --empty || return 1; fi
  with_index git rm -r -q -f --cached --ignore-unmatch -- "$STATE_DIR" >/dev/null || return 1 # a temp index
  if [[ "$new_state" != "$EMPTY_TREE" ]]; then
    with_index git read-tree --prefix="$STATE_DIR/" "$new_state" || return 1
  fi
  local tree
  tree="$(with_index git write-tree)" || return 1
  if [[ -n "$1" ]]; then
    printf '%s\n' "$message" | as_bot git commit-tree "$tree" -p "$1"
  else
    printf '%s\n' "$message" | as_bot git commit-tree "$tree"
  fi
}

attempt=1
committed=""
while :; do
  parent="$base"
  if fetch_err="$(git_remote fetch --quiet "$remote" "+refs/heads/${branch}:refs/remotes/${remote}/${branch}" 2>&1)"; then
    parent="$(git rev-parse "refs/remotes/${remote}/${branch}")"
  else
    say "fetch of ${remote}/${branch} failed (a new branch, or a network problem): $(printf '%s' "$fetch_err" | head -n 1)"
  fi
  if [[ -n "$parent" && "$(state_tree_of "$parent")" != "$base_state" ]]; then
    files="$(git diff-tree -r --name-only "$base_state" "$(state_tree_of "$parent")" | prefix_state | paste -sd ' ' -)"
    set_output committed false
    set_output pushed false
    die 3 "${remote}/${branch} has other state than this run started from; another writer changed: ${files}." \
      "Runs that write state must be serialized (one concurrency group). Pushed nothing; the next run" \
      "starts from ${remote}/${branch}."
  fi
  commit="$(build_commit "$parent")" || die 1 "could not build the state commit on ${parent:-an empty tree} (see git's message above)"
  if [[ -z "$committed" ]]; then
    say "committed ${commit:0:7}: $subject"
    set_output committed true
    committed=1
  fi
  if git_remote push --quiet "$remote" "${commit}:refs/heads/${branch}"; then
    if [[ -n "$state_branch" ]]; then
      # The state branch moved; the checkout (the default branch) is left exactly as it is.
      git update-ref -m "commit_state: $subject" "$STATE_BASE_REF" "$commit"
    else
      # The checkout's branch now points at what was published (files untouched), so a
      # later commit_state in this job starts from it, and local history the remote dropped is gone.
      git update-ref -m "commit_state: $subject" HEAD "$commit"
      git reset --quiet "$commit" -- "$STATE_DIR" # the index's state/ entries now match it
    fi
    say "pushed ${commit:0:12} to ${remote}/${branch} (attempt ${attempt}/${max_tries})"
    set_output sha "$commit"
    set_output pushed true
    exit 0
  fi
  if ((attempt >= max_tries)); then
    set_output pushed false
    die 2 "push to ${remote}/${branch} failed ${max_tries} times; the state is only in this checkout"
  fi
  delay=$(((RANDOM % 5 + 1) * attempt * sleep_scale))
  say "push rejected or failed (attempt ${attempt}/${max_tries}); retrying in ${delay}s"
  sleep "$delay"
  attempt=$((attempt + 1))
done
