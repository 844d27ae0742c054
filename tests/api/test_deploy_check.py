"""Deployment hygiene: every environment variable the settings read is in `.env.example` with its
default and a reason; `manage.py check --deploy` is clean under the documented production settings
(docs/operations.md); the TLS settings come from the environment and leave the probes on plain
HTTP; DATABASE_PREPARED_STATEMENTS does what it says on a real PostgreSQL connection."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys

import pytest
from django.db import connection

from tests.processes import ROOT

# The production settings docs/operations.md documents ("Going to production: the minimum"), with
# placeholder values.
PRODUCTION = {
    "ENVIRONMENT": "production",
    "DJANGO_SECRET_KEY": "q7Vt!2mZ@xL9#rB4$wN8%kP1^sD6&hF3*jG0(cY5)eU-aI+oT=",
    "API_SECRET_KEY": "sk-live-2b7e151628aed2a6",
    "ALLOWED_HOSTS": "api.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://api.example.com",
    "WS_ALLOWED_ORIGINS": "https://ops.example.com",
    "TRUSTED_PROXY_COUNT": "1",
    "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO",
    "SECURE_SSL_REDIRECT": "true",
    "SECURE_HSTS_SECONDS": "31536000",
    "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "SECURE_HSTS_PRELOAD": "true",
}


def settings_env_reads() -> set[str]:
    """Every variable name ivsproject/settings.py passes to an environment reader: `_raw`, `_int`,
    or any method of its `env` (django-environ)."""
    tree = ast.parse((ROOT / "ivsproject" / "settings.py").read_text())
    names = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call) or not node.args:
            continue
        func = node.func
        reader = (isinstance(func, ast.Name) and func.id in ("_raw", "_int")) or (
            isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "env"
        )
        first = node.args[0]
        if reader and isinstance(first, ast.Constant) and isinstance(first.value, str):
            names.add(first.value)
    return names


def env_example() -> dict[str, tuple[str, str]]:
    """`.env.example`: name -> (default, the comment line above it)."""
    lines = (ROOT / ".env.example").read_text().splitlines()
    entries = {}
    for number, line in enumerate(lines):
        match = re.match(r"^#?([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            entries[match.group(1)] = (match.group(2), lines[number - 1])
    return entries


def procfile_env_reads() -> set[str]:
    """The variables the Procfile's process lines expand (`${NAME:-default}`), and those the
    service's own modules read from the environment outside the settings."""
    names = set(re.findall(r"\$\{([A-Z][A-Z0-9_]*)", (ROOT / "Procfile").read_text()))
    read = re.compile(r"""(?:os\.environ\.get\(|os\.getenv\(|os\.environ\[)\s*["']([A-Z][A-Z0-9_]*)["']""")
    packages = [p for p in ROOT.iterdir() if (p / "__init__.py").is_file() or (p / "apps.py").is_file()]
    for package in packages:
        if package.name in ("tests", "bench", "tools"):
            continue
        for path in package.rglob("*.py"):
            if "devtools" not in path.parts:
                names |= set(read.findall(path.read_text()))
    return names


def test_every_setting_read_from_the_environment_is_in_env_example():
    settings_read, processes_read = settings_env_reads(), procfile_env_reads()
    assert len(settings_read) > 50  # the parser found the settings' reads (it would pass vacuously otherwise)
    assert {"WEB_CONCURRENCY", "WS2_PORT", "PROMETHEUS_MULTIPROC_DIR"} <= processes_read
    read = settings_read | processes_read
    listed = env_example()
    assert sorted(read - set(listed)) == []
    assert sorted(set(listed) - read) == []  # nothing documented that the settings no longer read
    for name, (_, why) in listed.items():
        assert why.startswith("# ") and len(why) > 10, f"{name} has no one-line reason above it"


def manage(*args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DJANGO_SETTINGS"))}
    for name in list(environment):
        if name in PRODUCTION or name.startswith(("SECURE_", "CORS_", "SENTRY_")) or name in ("DEBUG", "SKIP_AUTH"):
            environment.pop(name)
    environment.update(env)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=environment, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def test_check_deploy_is_clean_under_the_documented_production_settings():
    result = manage("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.parametrize(
    ("left_out", "warning"),
    [("SECURE_HSTS_SECONDS", "security.W004"), ("SECURE_SSL_REDIRECT", "security.W008")],
)
def test_check_deploy_names_a_missing_production_setting(left_out, warning):
    env = {k: v for k, v in PRODUCTION.items() if k != left_out}
    result = manage("check", "--deploy", "--fail-level", "WARNING", **env)
    assert result.returncode != 0
    assert warning in result.stdout + result.stderr


@pytest.mark.django_db
def test_behind_the_tls_proxy_probes_stay_on_plain_http_and_the_api_redirects(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    settings.SECURE_HSTS_SECONDS = 3600

    assert client.get("/livez").status_code == 200
    assert client.get("/readyz").status_code == 200
    redirected = client.get("/api/stats")
    assert redirected.status_code == 301 and redirected["Location"].startswith("https://")
    proxied = client.get("/api/stats", HTTP_X_FORWARDED_PROTO="https", HTTP_X_API_KEY="dev-api-key")
    assert proxied.status_code == 200
    assert proxied["Strict-Transport-Security"] == "max-age=3600"


# --- DATABASE_PREPARED_STATEMENTS on a real PostgreSQL connection ---------------------------------

PREPARED_COUNT = """
import django
django.setup()
from django.db import connection
with connection.cursor() as cursor:
    for n in range(8):
        cursor.execute("SELECT %s::int + 41", [n])
    cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s", ["SELECT $1::int + 41%"])
    print(cursor.fetchone()[0])
"""


@pytest.mark.django_db
@pytest.mark.parametrize(("value", "prepared"), [("true", True), ("false", False), (None, True)])
def test_database_prepared_statements_on_postgresql(value, prepared):
    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's")
    base = os.environ["DATABASE_URL"].rsplit("/", 1)[0]
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "DATABASE_PREPARED"))}
    environment.update(
        DATABASE_URL=f"{base}/{connection.settings_dict['NAME']}", DJANGO_SETTINGS_MODULE="ivsproject.settings"
    )
    if value is not None:
        environment["DATABASE_PREPARED_STATEMENTS"] = value
    result = subprocess.run([sys.executable, "-c", PREPARED_COUNT], env=environment, cwd=ROOT, capture_output=True,
                            text=True, timeout=120)  # fmt: skip
    assert result.returncode == 0, result.stderr
    count = int(result.stdout.strip().splitlines()[-1])
    assert (count > 0) is prepared, count
