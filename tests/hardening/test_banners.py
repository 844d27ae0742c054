"""No secret in a start-up banner: `make run` and `make run-prod` print where the API key is, never
a configured key, and no store password. Terminals are shared, scrolled back and recorded. And
`make run-prod` on a public address exposes nginx only."""

from __future__ import annotations

import importlib
import re

import pytest

from ivsproject.devtools import run

SECRETS = {
    "API_SECRET_KEY": "full-key-0a1b2c3d4e5f,next-full-key-6a7b8c",
    "API_CLIENT_KEYS": "client-key-9f8e7d6c",
    "DJANGO_SECRET_KEY": "django-secret-5e4d3c2b1a",
    "INTERNAL_SECRET": "internal-secret-1f2e3d",
    "IVS_EVENTS_SECRET": "events-secret-4c5b6a",
}
DATABASE_URL = "postgres://ivs:db-pass-w0rd@db.internal:5432/ivs"
REDIS_URL = "redis://:redis-pass-w0rd@cache.internal:6379/12"
PASSWORDS = ["db-pass-w0rd", "redis-pass-w0rd"]


def secret_values(env: dict[str, str]) -> list[str]:
    return [part for value in env.values() for part in value.split(",") if part]


def assert_no_secret(output: str, secrets: list[str]) -> None:
    assert secrets, "nothing to look for"
    for secret in secrets:
        assert secret not in output, secret


# --- make run (ivsproject/devtools/run.py) ----------------------------------------------------


@pytest.fixture
def dev_env():
    return {"HOST": "127.0.0.1", "WEB_PORT": "8000", "REDIS_URL": REDIS_URL, "DATABASE_URL": DATABASE_URL}


@pytest.fixture
def project_root(tmp_path, monkeypatch):
    """The project root `make run` looks in for `.env`: an empty directory of the test's."""
    monkeypatch.setattr(run, "ROOT", tmp_path)
    return tmp_path


def test_make_run_names_where_the_key_is_and_prints_no_secret(dev_env, project_root):
    output = run.banner({**dev_env, **SECRETS}, embedded=False)

    assert_no_secret(output, secret_values(SECRETS) + PASSWORDS)
    assert "API_SECRET_KEY, as set in the environment (not printed)" in output
    assert "postgres://ivs:***@db.internal:5432/ivs" in output
    assert "redis://:***@cache.internal:6379/12" in output


def test_make_run_names_the_env_file_when_the_key_is_there(dev_env, project_root):
    (project_root / ".env").write_text("DEBUG=true\nexport API_SECRET_KEY = key-from-the-env-file\n")

    output = run.banner(dev_env, embedded=True)

    assert "key-from-the-env-file" not in output
    assert "API_SECRET_KEY in .env (not printed)" in output


def test_make_run_shows_the_public_development_default(dev_env, project_root):
    (project_root / ".env").write_text("API_SECRET_KEY=\n")  # present but empty: the default applies

    output = run.banner({**dev_env, "DATABASE_URL": "", "REDIS_URL": "redis://127.0.0.1:6390/0"}, embedded=True)

    assert "x-api-key: dev-api-key   (development default; set API_SECRET_KEY)" in output
    assert "sqlite (var/db.sqlite3)" in output and "redis://127.0.0.1:6390/0 (embedded)" in output


# --- make run-prod (deploy/run_prod.py) -------------------------------------------------------


class Finished:
    """A process that has already exited (honcho, nginx): the script goes straight to its end."""

    def wait(self, timeout=None):
        return 0

    def send_signal(self, signum):
        pass

    def kill(self):
        pass


@pytest.fixture
def run_prod(tmp_path, monkeypatch):
    """deploy/run_prod.py's main(), on a scratch project root, its processes never started: the
    database check and the manage.py steps are no-ops, nginx's configuration is written under the
    scratch root but nginx is not run, honcho exits at once."""
    module = importlib.import_module("deploy.run_prod")
    monkeypatch.setattr(module, "ROOT", tmp_path)
    monkeypatch.setattr(module, "VAR", tmp_path / "var")
    monkeypatch.setattr(module, "SECRETS_FILE", tmp_path / "var" / "run-prod.env")
    monkeypatch.setattr(module, "ensure_database", lambda url: None)
    monkeypatch.setattr(module, "manage", lambda *args, env: None)
    monkeypatch.setattr(module, "ensure_nginx", lambda: "nginx")  # nginx's config written, never run
    monkeypatch.setattr(module.subprocess, "run", lambda *args, **kwargs: None)
    monkeypatch.setattr(module.subprocess, "Popen", lambda *args, **kwargs: Finished())
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path / "prometheus"))
    monkeypatch.setenv("DATABASE_URL", DATABASE_URL)
    monkeypatch.setenv("REDIS_URL", REDIS_URL)
    for name in SECRETS:
        monkeypatch.delenv(name, raising=False)
    return module


def generated_secrets(module) -> list[str]:
    text = module.SECRETS_FILE.read_text()
    return [value for value in re.findall(r"^[A-Z_]+=(.+)$", text, re.MULTILINE) if value]


def test_make_run_prod_names_the_secrets_file_and_prints_no_secret(run_prod, capsys):
    assert run_prod.main() == 0
    output = capsys.readouterr().out

    secrets = generated_secrets(run_prod)
    assert len(secrets) == 3  # DJANGO_SECRET_KEY, API_SECRET_KEY, INTERNAL_SECRET
    assert_no_secret(output, secrets + PASSWORDS)
    assert "x-api-key: API_SECRET_KEY in var/run-prod.env (not printed)" in output
    assert "postgres://ivs:***@db.internal:5432/ivs" in output


def test_make_run_prod_with_secrets_from_the_environment_prints_none(run_prod, capsys, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)

    assert run_prod.main() == 0
    output = capsys.readouterr().out

    assert_no_secret(output, secret_values(SECRETS) + generated_secrets(run_prod) + PASSWORDS)
    assert "x-api-key: API_SECRET_KEY in the environment (not printed)" in output


def test_make_run_prod_on_a_public_address_keeps_the_app_servers_behind_nginx(run_prod, monkeypatch):
    """HOST=0.0.0.0 is nginx's listen address; granian and daphne still bind the loopback
    interface, so nobody reaches them without nginx's buffering and header filtering, nor names
    its own address in X-Forwarded-For (which TRUSTED_PROXY_COUNT=1 trusts)."""
    started: list[tuple[list[str], dict[str, str]]] = []

    def popen(args, **kwargs):
        started.append(([str(arg) for arg in args], dict(kwargs.get("env") or {})))
        return Finished()

    monkeypatch.setattr(run_prod.subprocess, "Popen", popen)
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "8443")

    assert run_prod.main() == 0

    nginx_conf = (run_prod.VAR / "nginx" / "nginx.conf").read_text()
    assert re.findall(r"^\s*listen\s+([^;]+);", nginx_conf, re.MULTILINE) == ["0.0.0.0:8443"]
    servers = re.findall(r"^\s*server\s+([^;\s]+);", nginx_conf, re.MULTILINE)
    assert servers == ["127.0.0.1:8100", "127.0.0.1:8101", "127.0.0.1:8102"]
    [honcho_env] = [env for args, env in started if "honcho" in args]
    assert honcho_env["HOST"] == "127.0.0.1"  # the Procfile's --host / -b for granian and daphne
