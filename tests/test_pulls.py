"""The auto-disable PR adapter, driving real PyGithub against the stateful fake GitHub API."""

from __future__ import annotations

import logging
import time
import traceback

import pytest

from meta_supervisor.adapters.github_rest.git_data import BOT_TRAILER
from meta_supervisor.adapters.github_rest.proposer import EVIDENCE_MARKER, PullRequests, PullResult, pulls_from_env
from meta_supervisor.adapters.github_rest.transport import PullsError
from meta_supervisor.files.policy_yaml.edit import disable_strategy
from tests.fakes.github_api import FakeGitHub

TOKEN = "ghp_Zq9SECRETdistinctive8472"
KILL = "policy/strategy_kill_list.yaml"
KILL_TEXT = """\
# Strategy kill list: owned by the risk desk. Reviewed weekly.
macro:
  status: ENABLED          # ENABLED | DISABLED; missing means ENABLED
  by_regime:
    TREND:
      max_cvar_error_bps: 120

# on probation since March
mean_rev:
  status: "ENABLED"
  by_regime:
    RANGE: {max_cvar_error_bps: 90}
old_arb:
  status: DISABLED
"""
README = "# trading\nDo not touch.\n"
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def disable(strategy: str, reason: str = "CVaR95 breach"):
    """A plain string editor standing in for policy_yaml.disable_strategy."""

    def edit(text: str) -> str | None:
        lines = text.splitlines(keepends=True)
        start = lines.index(f"{strategy}:\n")
        for i in range(start + 1, len(lines)):
            line = lines[i]
            if line.strip().startswith("status:"):
                if "DISABLED" in line.split("#")[0]:
                    return None
                indent = line[: len(line) - len(line.lstrip())]
                lines[i] = line.replace("ENABLED", "DISABLED", 1)
                lines.insert(
                    i + 1, f'{indent}disabled_at: "2024-05-01T00:00:00Z"\n{indent}disabled_reason: "{reason}"\n'
                )
                return "".join(lines)
        raise AssertionError(f"no status for {strategy}")

    return edit


@pytest.fixture
def gh():
    with FakeGitHub(files={KILL: KILL_TEXT, "README.md": README}, token=TOKEN) as fake:
        main_before = fake.branch_head("main")
        yield fake
        # the default branch is never written, in any test
        assert [w for w in fake.ref_writes if w[0] == "refs/heads/main"] == []
        assert fake.branch_head("main") == main_before or fake.commits_on("main")[0] == "human push to main"
        assert not [r for r in fake.requests if r.method == "PUT" and (r.body or {}).get("branch") in (None, "main")]


class Client:
    def __init__(self, gh: FakeGitHub, token: str = TOKEN, url: str | None = None, **kw):
        self.logs: list[str] = []
        self.sleeps: list[float] = []
        kw = {"retry_delays": (0.01, 0.02), "max_rate_limit_wait_s": 10.0, **kw}
        self.api = PullRequests(
            token,
            "acme/trading",
            url or gh.url,
            log=self.logs.append,
            seconds_between_writes=0,
            sleep=self.sleeps.append,
            timeout_s=2,
            **kw,
        )

    def propose(
        self, strategy: str = "macro", body: str = "| regime | TREND |", title: str | None = None
    ) -> PullResult:
        return self.api.propose_disable(
            strategy,
            title=title or f"[AUTO] Disable strategy: {strategy}",
            body=body,
            edit=disable(strategy),
            commit_message=f"Disable {strategy}",
        )


def writes_since(gh: FakeGitHub, start: int) -> list[tuple[str, str]]:
    return [(r.method, r.path) for r in gh.requests[start:] if r.method in WRITES]


def test_pr_changes_only_the_kill_list(gh):
    result = Client(gh).propose()
    assert result == PullResult("macro", "created", 1, "https://github.com/acme/trading/pull/1", "auto/disable-macro")
    [pr] = gh.pulls
    assert (pr["head"], pr["base"], pr["state"], pr["labels"]) == (
        "auto/disable-macro",
        "main",
        "open",
        ["auto-disable"],
    )
    assert pr["title"] == "[AUTO] Disable strategy: macro" and pr["body"] == "| regime | TREND |"
    assert gh.labels["auto-disable"]["color"] == "d73a4a"
    assert gh.labels["auto-disable"]["description"] == "Opened by meta-supervisor"
    after = gh.file_at("auto/disable-macro", KILL)
    assert after == disable("macro")(KILL_TEXT)  # comments, quotes, blank lines: byte for byte
    assert [line for line in after.splitlines() if line not in KILL_TEXT.splitlines()] == [
        "  status: DISABLED          # ENABLED | DISABLED; missing means ENABLED",
        '  disabled_at: "2024-05-01T00:00:00Z"',
        '  disabled_reason: "CVaR95 breach"',
    ]
    assert gh.file_at("main", KILL) == KILL_TEXT
    assert gh.file_at("auto/disable-macro", "README.md") == README
    branch_log = gh.commits_on("auto/disable-macro")
    assert len(branch_log) == len(gh.commits_on("main")) + 1
    assert branch_log[0].startswith("Disable macro") and BOT_TRAILER in branch_log[0].splitlines()


def test_second_identical_run_changes_nothing(gh):
    client = Client(gh)
    first = client.propose()
    head, start = gh.branch_head("auto/disable-macro"), len(gh.requests)
    second = client.propose()
    assert (second.action, second.number) == ("unchanged", first.number)
    assert len(gh.pulls) == 1 and gh.branch_head("auto/disable-macro") == head
    assert writes_since(gh, start) == []
    # a fresh client (the next hourly run) converges the same way
    assert Client(gh).propose().action == "unchanged"


def test_new_evidence_updates_the_pr_in_place(gh):
    client = Client(gh)
    client.propose(body="old evidence")
    head, start = gh.branch_head("auto/disable-macro"), len(gh.requests)
    result = client.propose(body="new evidence")
    assert (result.action, result.number) == ("updated", 1)
    assert [p["body"] for p in gh.pulls] == ["new evidence"]
    assert gh.branch_head("auto/disable-macro") == head  # no new commit
    assert writes_since(gh, start) == [("PATCH", "/repos/acme/trading/pulls/1")]


@pytest.mark.parametrize("landed", [False, True], ids=["502-before-create", "502-after-create"])
def test_gateway_error_on_pr_creation_still_yields_one_pr(gh, landed):
    gh.inject("POST", r"/pulls$", 502, apply=landed)
    result = Client(gh).propose()
    assert (result.action, result.number) == ("created", 1)
    assert len(gh.pulls) == 1 and gh.pulls[0]["labels"] == ["auto-disable"]
    posts = [r for r in gh.requests if (r.method, r.path) == ("POST", "/repos/acme/trading/pulls")]
    assert len(posts) == (1 if landed else 2)


def test_pr_opened_concurrently_is_adopted(gh):
    # the fake opens the PR, then answers like GitHub does when a concurrent run got there first
    gh.inject(
        "POST",
        r"/pulls$",
        422,
        {
            "message": "Validation Failed",
            "errors": [
                {
                    "resource": "PullRequest",
                    "code": "custom",
                    "message": "A pull request already exists for acme:auto/disable-macro.",
                }
            ],
        },
        apply=True,
    )
    client = Client(gh)
    result = client.propose()
    assert result.number == 1 and result.action in ("updated", "unchanged")
    assert len(gh.pulls) == 1 and gh.pulls[0]["labels"] == ["auto-disable"]
    assert any("concurrently" in line for line in client.logs)


def test_branch_created_concurrently_is_adopted(gh):
    gh.inject("POST", r"/git/refs$", 422, {"message": "Reference already exists"}, apply=True)
    result = Client(gh).propose()
    assert (result.action, result.number) == ("created", 1)
    assert gh.file_at("auto/disable-macro", KILL) == disable("macro")(KILL_TEXT)
    assert len(gh.commits_on("auto/disable-macro")) == len(gh.commits_on("main")) + 1


def test_failed_commit_converges_on_the_next_run(gh):
    gh.inject("PUT", r"/contents/", 500, times=2)  # the write and its one repeat both fail
    with pytest.raises(PullsError, match="HTTP 500"):
        Client(gh).propose()
    assert gh.branch_head("auto/disable-macro") == gh.branch_head("main") and gh.pulls == []
    assert Client(gh).propose().action == "created"
    assert len(gh.commits_on("auto/disable-macro")) == len(gh.commits_on("main")) + 1


def test_commit_that_landed_behind_a_5xx_is_not_repeated(gh):
    gh.inject("PUT", r"/contents/", 502, apply=True)
    assert Client(gh).propose().action == "created"
    assert len([r for r in gh.requests if r.method == "PUT"]) == 1
    assert len(gh.commits_on("auto/disable-macro")) == len(gh.commits_on("main")) + 1


def test_commit_raced_by_a_concurrent_run_is_accepted(gh):
    # a concurrent run committed the same edit first: our PUT's blob sha is stale -> 409
    gh.inject("PUT", r"/contents/", 409, {"message": f"{KILL} does not match abc"}, apply=True)
    assert Client(gh).propose().action == "created"
    assert len(gh.commits_on("auto/disable-macro")) == len(gh.commits_on("main")) + 1


def test_conflicting_commit_fails_cleanly(gh):
    gh.inject("PUT", r"/contents/", 409, {"message": f"{KILL} does not match abc"})
    with pytest.raises(PullsError, match="HTTP 409"):
        Client(gh).propose()
    assert gh.pulls == []


def test_reads_are_retried_with_backoff(gh):
    gh.inject("GET", r"/repos/acme/trading$", 503, times=2)
    client = Client(gh)
    assert client.propose().action == "created"
    assert client.sleeps == [0.01, 0.02]


def test_rate_limit_is_waited_out_when_the_reset_is_near(gh):
    reset = int(time.time()) + 2
    gh.inject(
        "GET",
        r"/pulls$",
        403,
        {"message": "API rate limit exceeded for installation ID 1."},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(reset)},
    )
    gh.inject("POST", r"/pulls$", 403, {"message": "You have exceeded a secondary rate limit."}, {"Retry-After": "3"})
    client = Client(gh)
    assert client.propose().action == "created"
    assert len(gh.pulls) == 1
    assert len(client.sleeps) == 2 and 1 <= client.sleeps[0] <= 4 and client.sleeps[1] == 3


def test_rate_limit_far_away_fails_with_one_clear_line(gh):
    gh.inject(
        "GET",
        r"/repos/acme/trading$",
        403,
        {"message": "API rate limit exceeded for user ID 7."},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 3600)},
    )
    client = Client(gh, max_rate_limit_wait_s=5)
    with pytest.raises(PullsError) as err:
        client.propose()
    message = str(err.value)
    assert message.startswith("GitHub API rate limit exhausted; resets at 20") and "more than 5s away" in message
    assert "\n" not in message and client.sleeps == [] and gh.pulls == []


def test_human_commit_on_the_branch_is_never_overwritten(gh):
    client = Client(gh)
    client.propose(body="evidence v1")
    human = gh.add_commit("auto/disable-macro", KILL, KILL_TEXT.replace("120", "150"), author_name="Risk Desk")
    start, ref_writes = len(gh.requests), len(gh.ref_writes)
    result = client.propose(body="evidence v2")
    assert (result.action, result.number) == ("human_edited", 1)
    assert gh.branch_head("auto/disable-macro") == human and len(gh.ref_writes) == ref_writes
    assert writes_since(gh, start) == [("POST", "/repos/acme/trading/issues/1/comments")]
    assert gh.pulls[0]["body"] == "evidence v1"
    client.propose(body="evidence v3")
    [comment] = gh.comments(1)
    assert EVIDENCE_MARKER in comment["body"] and "evidence v3" in comment["body"]
    assert gh.branch_head("auto/disable-macro") == human


LONG_AGO = "2020-01-01T00:00:00Z"


def test_human_branch_without_pr_is_left_alone(gh):
    Client(gh).propose()
    gh.close_pull(1, closed_at=LONG_AGO)
    human = gh.add_commit("auto/disable-macro", "README.md", "mine\n")
    result = Client(gh).propose()
    assert (result.action, result.number) == ("human_edited", None)
    assert gh.branch_head("auto/disable-macro") == human and len(gh.pulls) == 1


def test_stale_bot_branch_without_pr_is_reset_off_the_new_default_head(gh):
    Client(gh).propose()
    gh.close_pull(1, closed_at=LONG_AGO)  # closed unmerged, long ago
    new_main = gh.add_commit("main", "README.md", "moved on\n", message="human push to main")
    result = Client(gh).propose(body="breached again")
    assert (result.action, result.number) == ("created", 2)
    assert [p["state"] for p in gh.pulls] == ["closed", "open"]
    assert gh.file_at("auto/disable-macro", "README.md") == "moved on\n"
    assert len(gh.commits_on("auto/disable-macro")) == len(gh.commits_on("main")) + 1
    assert new_main in {w[2] for w in gh.ref_writes if w[0] == "refs/heads/auto/disable-macro"}


def test_a_recently_declined_pr_is_respected_then_asked_again(gh):
    Client(gh).propose()
    gh.close_pull(1)  # a reviewer closed it without merging, just now
    writes = len(gh.ref_writes)
    result = Client(gh).propose(body="breached again")
    assert (result.action, result.number) == ("declined", 1)
    assert len(gh.pulls) == 1 and len(gh.ref_writes) == writes
    # a week later the breach is proposed again
    later = Client(gh, clock=lambda: time.time() + 8 * 24 * 3600).propose(body="still breached")
    assert (later.action, later.number) == ("created", 2)
    # a strategy may opt out of the pause
    gh.close_pull(2)
    again = Client(gh).api.propose_disable(
        "macro",
        title="[AUTO] Disable strategy: macro",
        body="x",
        edit=disable("macro"),
        commit_message="m",
        respect_declined_hours=0,
    )
    assert again.action == "created"


def test_open_pr_whose_bot_branch_lost_the_change_gets_a_commit_on_top(gh):
    Client(gh).propose()
    bot = gh.add_commit("auto/disable-macro", KILL, KILL_TEXT, message=f"Revert\n\n{BOT_TRAILER}")
    ref_writes = len(gh.ref_writes)
    result = Client(gh).propose()
    assert (result.action, result.number) == ("updated", 1)
    assert gh.file_at("auto/disable-macro", KILL) == disable("macro")(KILL_TEXT)
    # one fast-forward by the contents API, no force reset onto main (GitHub would call the PR merged)
    assert [w[1] for w in gh.ref_writes[ref_writes:]] == [bot]


def test_already_disabled_on_the_default_branch_opens_nothing(gh):
    result = Client(gh).propose("old_arb")
    assert result == PullResult("old_arb", "already_disabled", None, None, "auto/disable-old_arb")
    assert gh.branch_head("auto/disable-old_arb") is None and gh.pulls == []
    assert writes_since(gh, 0) == [] and gh.ref_writes == []


def test_upsert_comment_creates_then_updates_the_same_comment(gh):
    client = Client(gh)
    client.propose()
    marker = "<!-- meta-supervisor:alerts -->"
    assert client.api.upsert_comment(1, marker, f"{marker}\nfirst") == "created"
    assert client.api.upsert_comment(1, marker, f"{marker}\nfirst") == "unchanged"
    assert client.api.upsert_comment(1, "<!-- other -->", "other") == "created"
    assert client.api.upsert_comment(1, marker, f"{marker}\nsecond") == "updated"
    bodies = [c["body"] for c in gh.comments(1)]
    assert bodies == [f"{marker}\nsecond", "<!-- other -->\nother"]


def test_open_auto_prs_maps_strategies_to_numbers(gh):
    client = Client(gh)
    client.propose("macro")
    client.propose("mean_rev")
    gh.add_commit("main", "README.md", "x\n", message="human push to main")
    assert client.api.open_auto_prs() == {"macro": 1, "mean_rev": 2}
    gh.close_pull(1)
    assert client.api.open_auto_prs() == {"mean_rev": 2}
    assert client.api.open_auto_prs("enable") == {}  # only auto/enable- branches with the auto-enable label


def test_pulls_from_env():
    assert pulls_from_env({}) is None
    assert pulls_from_env({"GITHUB_TOKEN": TOKEN}) is None
    api = pulls_from_env(
        {"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "acme/trading", "GITHUB_API_URL": "http://127.0.0.1:9"}
    )
    assert isinstance(api, PullRequests) and TOKEN not in repr(api) and TOKEN not in str(vars(api))
    with pytest.raises(PullsError, match="owner/name"):
        pulls_from_env({"GITHUB_TOKEN": TOKEN, "GITHUB_REPOSITORY": "trading"})


def test_token_never_leaks(gh, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    client = Client(gh)
    client.propose(body="v1")
    client.propose(body="v2")
    client.api.upsert_comment(1, "<!-- m -->", "x")
    gh.inject("GET", r"/pulls$", 500, times=5)
    gh.inject(
        "GET",
        r"/repos/acme/trading$",
        403,
        {"message": "API rate limit exceeded"},
        {"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(int(time.time()) + 999)},
    )
    with FakeGitHub(files={KILL: KILL_TEXT}, token="another-token") as other:
        failing = [Client(gh), Client(gh), Client(other), Client(gh, url="http://127.0.0.1:9")]
        for c in failing:
            with pytest.raises(PullsError) as err:
                c.propose("mean_rev")
            seen += [str(err.value), repr(err.value), "".join(traceback.format_exception(err.value))]
            assert "\n" not in str(err.value)
    assert "Bad credentials" in seen[6] and "ConnectionError" in seen[9]
    out = capsys.readouterr()
    everything = "\n".join(
        seen + client.logs + [c2 for c in failing for c2 in c.logs] + [caplog.text, out.out, out.err, repr(client.api)]
    )
    assert "rate limit" in everything.lower() and "HTTP 500" in everything
    assert TOKEN not in everything


def test_with_the_real_policy_editor(gh):
    edit = lambda text: disable_strategy(text, "macro", "2024-05-01T00:00:00Z", "CVaR95 breach")
    result = Client(gh).api.propose_disable(
        "macro", title="[AUTO] Disable strategy: macro", body="b", edit=edit, commit_message="Disable macro"
    )
    assert result.action == "created"
    after = gh.file_at("auto/disable-macro", KILL)
    assert "status: DISABLED" in after and "# Strategy kill list" in after and "# on probation" in after
