"""`make run`: the whole development stack in one command.

Starts the embedded Redis (unless REDIS_URL is set), migrates the database, makes sure the
master stage exists, prints where everything is, then runs Procfile.dev with honcho
(daphne for HTTP + /ws, a Celery worker with beat). Ctrl-C stops every process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from ivsproject.devtools.embedded_redis import EmbeddedRedis, free_port, port_is_free

ROOT = Path(__file__).resolve().parents[2]
VAR = ROOT / "var"


def manage(*args: str, env: dict[str, str]) -> None:
    subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env=env, cwd=ROOT, check=True)


def banner(env: dict[str, str], embedded: bool) -> str:
    host = env["HOST"] if env["HOST"] not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    base = f"http://{host}:{env['WEB_PORT']}"
    key = env.get("API_SECRET_KEY", "").split(",")[0].strip()
    key_line = f"x-api-key: {key}" if key else "x-api-key: dev-api-key   (development default; set API_SECRET_KEY)"
    redis_line = f"{env['REDIS_URL']} ({'embedded' if embedded else 'external'})"
    return "\n".join(
        [
            "",
            "  IVS real-time control API — development stack",
            f"  API        {base}   (health: {base}/health)",
            f"  API key    {key_line}",
            f"  Docs       {base}/api/docs/",
            f"  Admin      {base}/admin/   (create a user: .venv/bin/python manage.py createsuperuser)",
            f"  WebSocket  ws://{base.removeprefix('http://')}/ws",
            f"  Redis      {redis_line}",
            f"  Database   {env.get('DATABASE_URL') or 'sqlite (var/db.sqlite3)'}",
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
