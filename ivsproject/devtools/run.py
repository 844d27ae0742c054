"""`make run`: the whole development stack in one command.

Starts the embedded Redis (unless REDIS_URL is set), migrates the database, makes sure the
master stage exists, prints where everything is, then runs Procfile.dev with honcho
(daphne for HTTP + /ws, a Celery worker with beat). Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from ivsproject.devtools.embedded_redis import EmbeddedRedis, free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def key_line(env: dict[str, str]) -> str:
    """Where the API key is, never a configured key itself: terminals are shared, scrolled back,
    recorded and pasted into tickets. Only the public development default is shown as it is."""
    if env.get("API_SECRET_KEY", "").strip():
        return "x-api-key: API_SECRET_KEY, as set in the environment (not printed)"
    dotenv = ROOT / ".env"
    if dotenv.is_file() and re.search(r"^\s*(export\s+)?API_SECRET_KEY\s*=\s*\S", dotenv.read_text(), re.MULTILINE):
        return "x-api-key: API_SECRET_KEY in .env (not printed)"
    return "x-api-key: dev-api-key   (development default; set API_SECRET_KEY)"


def without_password(url: str) -> str:
    """A store's URL as it can be shown: its password, if any, replaced by ***."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def banner(env: dict[str, str], embedded: bool) -> str:
    host = env["HOST"] if env["HOST"] not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    base = f"http://{host}:{env['WEB_PORT']}"
    redis_line = f"{without_password(env['REDIS_URL'])} ({'embedded' if embedded else 'external'})"
    return "\n".join(
        [
            "",
            "  IVS real-time control API — development stack",
            f"  API        {base}   (health: {base}/health)",
            f"  API key    {key_line(env)}",
            f"  Docs       {base}/api/docs/",
            f"  Admin      {base}/admin/   (create a user: .venv/bin/python manage.py createsuperuser)",
            f"  WebSocket  ws://{base.removeprefix('http://')}/ws",
            f"  Redis      {redis_line}",
            f"  Database   {without_password(env.get('DATABASE_URL') or '') or 'sqlite (var/db.sqlite3)'}",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def main() -> int:
    VAR.mkdir(exist_ok=True)
    env = dict(os.environ)
    env.setdefault("HOST", "127.0.0.1")
    env["WEB_PORT"] = env.get("PORT", "8000")
    env.setdefault("PYTHONUNBUFFERED", "1")
    # Procfile commands (daphne, celery) come from this interpreter's environment (.venv/bin).
    env["PATH"] = os.pathsep.join([os.path.dirname(sys.executable), env.get("PATH", "")])
    redis_server = None
    if not env.get("REDIS_URL"):
        wanted = int(env.get("EMBEDDED_REDIS_PORT", "6390"))
        port = wanted if port_is_free(wanted) else free_port()
        redis_server = EmbeddedRedis(port, data_dir=VAR / "redis").start()
        env["REDIS_URL"] = redis_server.url
    try:
        manage("migrate", "--noinput", env=env)
        manage("ensure_master_stage", env=env)
        print(banner(env, embedded=redis_server is not None), flush=True)
        honcho = subprocess.Popen(
            [sys.executable, "-m", "honcho", "-f", str(ROOT / "Procfile.dev"), "start"], env=env, cwd=ROOT
        )
        try:
            return honcho.wait()
        except KeyboardInterrupt:
            # The terminal sent SIGINT to the whole group; honcho is stopping its children.
            honcho.send_signal(signal.SIGINT)
            return honcho.wait()
    except subprocess.CalledProcessError as exc:
        print(f"make run: setup step failed: {' '.join(map(str, exc.cmd))}", file=sys.stderr)
        return exc.returncode or 1
    finally:
        if redis_server is not None:
            redis_server.stop()


if __name__ == "__main__":
    sys.exit(main())
