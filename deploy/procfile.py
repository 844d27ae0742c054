"""The production processes' command lines as `Procfile` gives them: what a process manager runs,
and what the drills, the bench and `make run-prod` start, so all of them run the same commands."""

from __future__ import annotations

import re
from pathlib import Path

PROCFILE = Path(__file__).resolve().parents[1] / "Procfile"


def procfile_commands(path: Path = PROCFILE) -> dict[str, str]:
    """Every `name: command` line, by name."""
    commands = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Za-z0-9_-]+):\s*(.+)$", line)
        if match:
            commands[match.group(1)] = match.group(2)
    return commands


def procfile_command(name: str) -> str:
    try:
        return procfile_commands()[name]
    except KeyError:
        raise KeyError(f"no `{name}:` process in {PROCFILE}") from None


def web_workers_serving(log: str) -> bool:
    """Whether every granian worker that `web`'s log says was spawned has started serving. granian
    answers as soon as its first worker does, while a worker still importing the app accepts no
    connection: whoever starts `web` and then loads it waits for this as well as for an answer."""
    spawned = set(re.findall(r"Spawning worker-(\d+)", log))
    started = set(re.findall(r"Started worker-(\d+)", log))
    return bool(spawned) and spawned <= started
