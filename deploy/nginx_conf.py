"""Render deploy/nginx.conf into a complete nginx configuration for one machine.

`make run-prod` and the front tests run nginx from this: the sample's `http {}` part as written,
with each upstream's `server` lines replaced by the processes actually running and `listen` by
the public address, inside a main context that keeps nginx in the foreground, its logs on
stderr and every file under `prefix`.

    render(listen="127.0.0.1:8000", upstreams={"ivs_http": ["127.0.0.1:8100"],
           "ivs_ws": ["127.0.0.1:8101", "127.0.0.1:8102"]}, prefix=Path("var/nginx"))
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

SAMPLE = Path(__file__).resolve().with_name("nginx.conf")


def http_block(listen: str, upstreams: Mapping[str, Sequence[str]], sample: str | None = None) -> str:
    """The sample's text with `listen` and the named upstreams' `server` lines substituted."""
    text = SAMPLE.read_text() if sample is None else sample
    for name, servers in upstreams.items():
        block = re.search(rf"(?ms)^upstream {re.escape(name)} \{{\n(.*?)^\}}", text)
        if block is None:
            raise ValueError(f"no upstream {name} in {SAMPLE}")
        body = block.group(1)
        lines = [line for line in body.splitlines(keepends=True) if not re.match(r"\s*server\s", line)]
        indent = "    "
        first_server = next((i for i, line in enumerate(body.splitlines()) if re.match(r"\s*server\s", line)), 0)
        new_lines = [f"{indent}server {server};\n" for server in servers]
        lines[first_server:first_server] = new_lines
        text = text[: block.start(1)] + "".join(lines) + text[block.end(1) :]
    text, count = re.subn(r"(?m)^(\s*)listen\s+[^;]+;", rf"\g<1>listen {listen};", text)
    if count != 1:
        raise ValueError(f"expected one listen line in {SAMPLE}, found {count}")
    return text


def render(listen: str, upstreams: Mapping[str, Sequence[str]], prefix: Path) -> str:
    """A complete nginx.conf: run it as `nginx -p PREFIX -c PREFIX/nginx.conf`."""
    prefix = prefix.resolve()
    temp = prefix / "temp"
    for sub in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        (temp / sub).mkdir(parents=True, exist_ok=True)
    user = ""
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # Started as root, nginx would run its workers as `nobody`, who cannot write under prefix.
        user = "user root;\n"
    return (
        "# Generated from deploy/nginx.conf by deploy/nginx_conf.py; edits here are overwritten.\n"
        f"{user}"
        "daemon off;\n"
        "worker_processes 1;\n"
        f"pid {prefix / 'nginx.pid'};\n"
        "error_log stderr warn;\n"
        "events { worker_connections 1024; }\n"
        "http {\n"
        "    access_log off;\n"
        f"    client_body_temp_path {temp / 'client_body'};\n"
        f"    proxy_temp_path {temp / 'proxy'};\n"
        f"    fastcgi_temp_path {temp / 'fastcgi'};\n"
        f"    uwsgi_temp_path {temp / 'uwsgi'};\n"
        f"    scgi_temp_path {temp / 'scgi'};\n" + http_block(listen, upstreams) + "}\n"
    )


def write(listen: str, upstreams: Mapping[str, Sequence[str]], prefix: Path) -> Path:
    prefix.mkdir(parents=True, exist_ok=True)
    path = prefix / "nginx.conf"
    path.write_text(render(listen, upstreams, prefix))
    return path


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (str(p) for p in (Path("/usr/sbin/nginx"), Path("/usr/local/sbin/nginx")) if p.is_file()), None
    )
