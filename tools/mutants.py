"""A small mutation run over the core modules: does the test suite notice a plausible bug?

Each mutant is one exact snippet of a source file and its replacement (an off-by-one, a dropped
condition, a shifted clock). For each mutant the working tree is copied to a temporary directory
(without `.git`, `.venv`, `var` and caches; `.venv` is a symlink to this checkout's), the snippet
is replaced, and the test files that cover that module run with `pytest -x -q`. A failing run
kills the mutant; a passing run means it survived: either a test is missing or the mutant is
equivalent (docs/testing.md lists every survivor with its verdict).

    .venv/bin/python -m tools.mutants                    # every mutant, 300 s each at most
    .venv/bin/python -m tools.mutants --timeout 120 --only auth-prefix --only expire-no-score-check
    .venv/bin/python -m tools.mutants --list             # the mutants and the tests each runs
    .venv/bin/python -m tools.mutants --without-boundaries   # what the suite kills without tests/boundaries

A snippet must occur exactly once in its file; when product code changes under a mutant, the run
reports it as "stale" instead of silently testing nothing. A run that exceeds `--timeout` counts
as killed (the mutant hung the tests) and is shown as "timeout". The unmutated tree runs every
chosen test file first and must pass. Exit status: 0 when nothing survived and nothing is stale,
1 otherwise, 2 when the unmutated tree fails.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
IGNORED = (".git", ".venv", "var", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache")

AUTH = ["tests/boundaries/test_api_key.py", "tests/api/test_authentication.py"]
THROTTLE = [
    "tests/boundaries/test_limits.py",
    "tests/boundaries/test_presence_scripts.py",
    "tests/api/test_rate_limit.py",
]
PRESENCE = [
    "tests/boundaries/test_presence_scripts.py",
    "tests/boundaries/test_heartbeat_timeout.py",
    "tests/boundaries/test_limits.py",
    "tests/viewers/test_viewer_api.py",
]
CLEANUP = [
    "tests/boundaries/test_heartbeat_timeout.py",
    "tests/viewers/test_viewer_api.py",
    "tests/viewers/test_heartbeat_flush.py",
]
AUTOSCALER = ["tests/boundaries/test_autoscaler_thresholds.py", "tests/autoscaling/test_autoscaler.py"]
ENVELOPE = ["tests/boundaries/test_timestamps.py", "tests/api/test_envelope.py", "tests/api/test_authentication.py"]
DURATION = ["tests/boundaries/test_duration_format.py", "tests/viewers/test_viewer_api.py"]
REPORTS = ["tests/reports/test_broadcast_reports.py", "tests/reports/test_reports_operators.py"]
EVENTS = ["tests/hardening/test_probe.py", "tests/hardening/test_security_events.py"]
PLAIN_BODY = ["tests/api/test_plainbody.py", "tests/api/test_fast_path.py"]


@dataclass(frozen=True)
class Mutant:
    name: str
    path: str
    original: str
    replacement: str
    tests: list[str]


MUTANTS = [
    # --- API key -------------------------------------------------------------------------------
    Mutant(
        "auth-prefix",
        "ivsproject/api/authentication.py",
        "hmac.compare_digest(given, secret.encode())",
        "secret.encode().startswith(given)",
        AUTH,
    ),
    Mutant(
        "auth-key-plus-suffix",
        "ivsproject/api/authentication.py",
        "hmac.compare_digest(given, secret.encode())",
        "given.startswith(secret.encode())",
        AUTH,
    ),
    Mutant(
        "auth-last-char-ignored",
        "ivsproject/api/authentication.py",
        "hmac.compare_digest(given, secret.encode())",
        "len(given) == len(secret.encode()) and given[:-1] == secret.encode()[:-1]",
        AUTH,
    ),
    Mutant(
        "auth-first-slot-only",
        "ivsproject/api/authentication.py",
        "enumerate(secrets)",
        "enumerate(secrets[:1])",
        AUTH,
    ),
    Mutant(
        "auth-accept-any",
        "ivsproject/api/authentication.py",
        "return None if index is None else ApiClient(key_index=index)",
        "return ApiClient(key_index=index)",
        AUTH,
    ),
    # --- rate limit ----------------------------------------------------------------------------
    Mutant(
        "ratelimit-settle-off-by-one",
        "ivsproject/api/throttling.py",
        "if count > ticket.limit:",
        "if count >= ticket.limit:",
        THROTTLE,
    ),
    Mutant(
        "ratelimit-heartbeat-script-off-by-one",
        "stages/presence_scripts.py",
        "if count > tonumber(ARGV[3]) then return {count, 0} end",
        "if count >= tonumber(ARGV[3]) then return {count, 0} end",
        THROTTLE + PRESENCE[:1],
    ),
    Mutant(
        "ratelimit-seat-script-off-by-one",
        "stages/presence_scripts.py",
        "if count > tonumber(ARGV[10]) then",
        "if count >= tonumber(ARGV[10]) then",
        THROTTLE,
    ),
    # --- seats and presence --------------------------------------------------------------------
    Mutant(
        "seat-capacity-overfill",
        "stages/presence_scripts.py",
        "if c < cap and",
        "if c <= cap and",
        PRESENCE,
    ),
    Mutant(
        "expire-no-score-check",
        "stages/presence_scripts.py",
        "if s and tonumber(s) < cutoff then",
        "if s then",
        PRESENCE,
    ),
    Mutant(
        "expire-inclusive-cutoff",
        "stages/presence_scripts.py",
        "if s and tonumber(s) < cutoff then",
        "if s and tonumber(s) <= cutoff then",
        PRESENCE,
    ),
    Mutant(
        "expired-read-inclusive",
        "stages/presence.py",
        '"-inf", f"({cutoff}"',
        '"-inf", f"{cutoff}"',
        CLEANUP,
    ),
    # --- timeout cleanup -----------------------------------------------------------------------
    Mutant(
        "cleanup-cutoff-one-early",
        "viewers/cleanup.py",
        "cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS",
        "cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS + 1",
        CLEANUP,
    ),
    Mutant(
        "cleanup-cutoff-one-late",
        "viewers/cleanup.py",
        "cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS",
        "cutoff = at - settings.HEARTBEAT_TIMEOUT_SECONDS - 1",
        CLEANUP,
    ),
    Mutant(
        "cleanup-closes-at-sweep-time",
        "viewers/cleanup.py",
        "ends = [(user, dt(last)) for user, last in entries]",
        "ends = [(user, dt(last + settings.HEARTBEAT_TIMEOUT_SECONDS)) for user, last in entries]",
        CLEANUP,
    ),
    Mutant(
        "cleanup-no-reopen-for-racers",
        "viewers/cleanup.py",
        "report.sessions_reopened += _reopen_raced(stage, [u for u, _ in entries if u not in kept])",
        "pass",
        CLEANUP,
    ),
    # --- autoscaler ----------------------------------------------------------------------------
    Mutant(
        "scale-down-threshold-removed",
        "autoscaling/autoscaler.py",
        "        and counts[s.arn] <= settings.SCALE_DOWN_THRESHOLD\n",
        "",
        AUTOSCALER,
    ),
    Mutant(
        "scale-down-threshold-strict",
        "autoscaling/autoscaler.py",
        "and counts[s.arn] <= settings.SCALE_DOWN_THRESHOLD",
        "and counts[s.arn] < settings.SCALE_DOWN_THRESHOLD",
        AUTOSCALER,
    ),
    Mutant(
        "scale-up-threshold-strict",
        "autoscaling/autoscaler.py",
        "self.counts[s.arn] >= settings.SCALE_UP_THRESHOLD for s in active",
        "self.counts[s.arn] > settings.SCALE_UP_THRESHOLD for s in active",
        AUTOSCALER,
    ),
    Mutant(
        "scale-up-any-stage-hot",
        "autoscaling/autoscaler.py",
        "bool(active) and all(self.counts",
        "bool(active) and any(self.counts",
        AUTOSCALER,
    ),
    Mutant(
        "warmup-strict",
        "autoscaling/autoscaler.py",
        "and s.created_at <= warm",
        "and s.created_at < warm",
        AUTOSCALER,
    ),
    Mutant(
        "absorb-at-threshold",
        "autoscaling/autoscaler.py",
        "load >= len(others) * up",
        "load > len(others) * up",
        AUTOSCALER,
    ),
    # --- envelope and times --------------------------------------------------------------------
    Mutant(
        "envelope-timestamp-plus-8h",
        "ivsproject/api/envelope.py",
        "return iso(datetime.now(UTC))",
        "return iso(datetime.fromtimestamp(datetime.now(UTC).timestamp() + 8 * 3600, tz=UTC))",
        ENVELOPE,
    ),
    Mutant(
        "iso-times-plus-8h",
        "ivsproject/api/envelope.py",
        'return dt.astimezone(UTC).isoformat(timespec="milliseconds")',
        'return datetime.fromtimestamp(dt.timestamp() + 8 * 3600, tz=UTC).isoformat(timespec="milliseconds")',
        ENVELOPE,
    ),
    Mutant(
        "error-envelope-success-true",
        "ivsproject/api/envelope.py",
        '{"success": False, "error": error',
        '{"success": True, "error": error',
        ENVELOPE,
    ),
    # --- watch time formatting -----------------------------------------------------------------
    Mutant(
        "duration-hours-off-by-one",
        "viewers/selectors.py",
        "    if hours:\n",
        "    if hours > 1:\n",
        DURATION,
    ),
    Mutant(
        "duration-hour-length",
        "viewers/selectors.py",
        "divmod(max(int(seconds), 0), 3600)",
        "divmod(max(int(seconds), 0), 3601)",
        DURATION,
    ),
    Mutant(
        "duration-minute-length",
        "viewers/selectors.py",
        "divmod(rest, 60)",
        "divmod(rest, 59)",
        DURATION,
    ),
    # --- Broadcast reports ----------------------------------------------------------------------
    Mutant(
        "reports-blip-never-merged",
        "reports/broadcasts.py",
        "ended_at__gt=at - _merge_window()",
        "ended_at__gt=at",
        REPORTS,
    ),
    Mutant(
        "reports-merge-window-inclusive",
        "reports/broadcasts.py",
        "ended_at__gt=at - _merge_window()",
        "ended_at__gte=at - _merge_window()",
        REPORTS,
    ),
    Mutant(
        "reports-watch-before-the-show-counted",
        "reports/selectors.py",
        'Greatest(F("joined_at"), start_v)',
        'F("joined_at")',
        REPORTS,
    ),
    Mutant(
        "reports-watch-after-the-show-counted",
        "reports/selectors.py",
        "Least(left, end_v, output_field=DateTimeField())",
        "left",
        REPORTS,
    ),
    Mutant(
        "reports-peak-only-first-count",
        "reports/broadcasts.py",
        "if peak_at is not None and viewers <= peak:",
        "if peak_at is not None:",
        REPORTS,
    ),
    Mutant(
        "reports-purge-open-sessions",
        "reports/retention.py",
        "ViewerSession.objects.filter(left_at__isnull=False, left_at__lt=before)",
        "ViewerSession.objects.filter(joined_at__lt=before)",
        REPORTS,
    ),
    Mutant(
        "reports-lost-offline-ends-now",
        "reports/broadcasts.py",
        "_end(stale, at=min(stale.last_live_at, at), last_live_at=stale.last_live_at)",
        "_end(stale, at=at, last_live_at=stale.last_live_at)",
        REPORTS,
    ),
    Mutant(
        "reports-pass-reopens-an-ended-show",
        "reports/broadcasts.py",
        "if recent is not None and recent.ended_at is not None and recent.ended_at >= at:",
        "if False:",
        REPORTS,
    ),
    Mutant(
        "reports-reopen-keeps-final-figures",
        "reports/broadcasts.py",
        "                        final_unique_viewers=None,\n                        final_watch_seconds=None,\n",
        "",
        REPORTS,
    ),
    Mutant(
        "reports-sample-per-exact-time",
        "reports/broadcasts.py",
        "at__gt=at - half, at__lt=at + half",
        "at=at",
        REPORTS,
    ),
    Mutant(
        "reports-purge-sessions-of-kept-shows",
        "reports/retention.py",
        ".exclude(Exists(still_counting))",
        "",
        REPORTS,
    ),
    # --- The events secret's guess limit ----------------------------------------------------------
    Mutant(
        "events-right-secret-served-while-locked",
        "stats/apis.py",
        "failures if not right else failures + 1",
        "failures if not right else 0",
        EVENTS,
    ),
    Mutant(
        "events-right-secrets-counted",
        "stats/apis.py",
        "count_one=not right",
        "count_one=True",
        EVENTS,
    ),
    Mutant(
        "events-limit-off-by-one",
        "stats/apis.py",
        "failures if not right else failures + 1",
        "failures - 1 if not right else failures + 1",
        EVENTS,
    ),
    # --- The plain-body proof (fast path) ---------------------------------------------------------
    Mutant(
        "plainbody-invisible-ids-vouched-for",
        "ivsproject/api/plainbody.py",
        "or (not field.allow_invisible and _INVISIBLE.search(value))",
        "or False",
        [*PLAIN_BODY, "tests/hardening/test_probe.py"],
    ),
    Mutant(
        "plainbody-null-vouched-as-a-value",
        "ivsproject/api/plainbody.py",
        "or (value is None and field.null_is_absent)",
        "or (value is None)",
        PLAIN_BODY,
    ),
]


@dataclass
class Result:
    mutant: Mutant
    outcome: str  # killed | survived | timeout | stale | error
    seconds: float
    detail: str = ""


def _copy_tree(dest: Path) -> None:
    shutil.copytree(ROOT, dest, ignore=shutil.ignore_patterns(*IGNORED), symlinks=True)
    (dest / ".venv").symlink_to(ROOT / ".venv", target_is_directory=True)


def _first_failure(output: str) -> str:
    """The first failing test's id from pytest's summary (log lines also start with "ERROR")."""
    for line in output.splitlines():
        kind, _, rest = line.partition(" ")
        if kind in ("FAILED", "ERROR") and rest.startswith("tests/"):
            return f"{kind} {rest.split(' - ')[0]}"
    return output.strip().splitlines()[-1][:160] if output.strip() else ""


def run_mutant(mutant: Mutant, *, timeout: float, without_boundaries: bool) -> Result:
    """Copy, mutate, test. The baseline is the mutant that changes nothing: it must survive."""
    started = time.monotonic()
    source = (ROOT / mutant.path).read_text()
    found = source.count(mutant.original)
    if found != 1:
        return Result(mutant, "stale", 0.0, f"snippet found {found} times in {mutant.path}")
    tests = [t for t in mutant.tests if not (without_boundaries and t.startswith("tests/boundaries/"))]
    tests = list(dict.fromkeys(t for t in tests if (ROOT / t).exists()))
    if not tests:
        return Result(mutant, "error", 0.0, "no test file to run")
    with tempfile.TemporaryDirectory(prefix="mutant-") as tmp:
        work = Path(tmp) / "repo"
        _copy_tree(work)
        target = work / mutant.path
        target.write_text(source.replace(mutant.original, mutant.replacement))
        command = [str(ROOT / ".venv/bin/python"), "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *tests]
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
        proc = subprocess.Popen(
            command,
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            return Result(mutant, "timeout", time.monotonic() - started, f"over {timeout:.0f} s")
    seconds = time.monotonic() - started
    if proc.returncode == 0:
        return Result(mutant, "survived", seconds, "all tests passed")
    if proc.returncode == 1:
        return Result(mutant, "killed", seconds, _first_failure(output))
    return Result(mutant, "killed", seconds, f"pytest exit {proc.returncode}: {_first_failure(output)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds per mutant (default 300)")
    parser.add_argument("--only", action="append", default=[], metavar="NAME", help="run only these mutants")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    parser.add_argument(
        "--without-boundaries", action="store_true", help="leave tests/boundaries out (what the rest kills)"
    )
    args = parser.parse_args(argv)

    unknown = set(args.only) - {m.name for m in MUTANTS}
    if unknown:
        parser.error(f"unknown mutant(s): {', '.join(sorted(unknown))}")
    chosen = [m for m in MUTANTS if not args.only or m.name in args.only]
    if args.list:
        for m in chosen:
            print(f"{m.name:40} {m.path:36} {' '.join(m.tests)}")
        return 0

    began = time.monotonic()
    # The unmutated tree must pass the same tests, or every mutant would look killed.
    every_test = [t for m in chosen for t in m.tests]
    baseline = run_mutant(
        Mutant("baseline", chosen[0].path, chosen[0].original, chosen[0].original, every_test),
        timeout=args.timeout * 2,
        without_boundaries=args.without_boundaries,
    )
    print(f"[baseline] {baseline.outcome} ({baseline.seconds:.1f} s)", flush=True)
    if baseline.outcome != "survived":
        print(f"the unmutated tree does not pass: {baseline.detail}")
        return 2

    results: list[Result] = []
    for n, mutant in enumerate(chosen, 1):
        result = run_mutant(mutant, timeout=args.timeout, without_boundaries=args.without_boundaries)
        results.append(result)
        print(f"[{n}/{len(chosen)}] {mutant.name}: {result.outcome} ({result.seconds:.1f} s)", flush=True)
    total = time.monotonic() - began

    print()
    print(f"{'mutant':40} {'file':36} {'outcome':9} {'s':>6}  detail")
    for r in results:
        print(f"{r.mutant.name:40} {r.mutant.path:36} {r.outcome:9} {r.seconds:6.1f}  {r.detail}")
    scored = [r for r in results if r.outcome in ("killed", "timeout", "survived")]
    killed = sum(r.outcome in ("killed", "timeout") for r in scored)
    score = 100.0 * killed / len(scored) if scored else 0.0
    print()
    print(f"score: {killed}/{len(scored)} killed ({score:.0f}%) in {total:.0f} s")
    for r in results:
        if r.outcome in ("survived", "stale", "error"):
            print(f"{r.outcome}: {r.mutant.name} ({r.mutant.path}): {r.detail}")
    return 0 if all(r.outcome in ("killed", "timeout") for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
