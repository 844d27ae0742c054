"""What the stages layer tells the layers above it. Each signal is sent by this app and received by
apps that build on it (their receivers are connected in their `AppConfig.ready()`), so news travels
upward without an upward import.

- `stage_created(stage)`: after the creating transaction commits.
- `stage_deleted(stage)`: synchronously, right after the row is marked deleted and before presence
  is touched by anyone else: a receiver that closes durable sessions runs inside the same call, so
  the crash-safe order "database first, then presence" holds.
- `host_live_changed(live)`: the host went live or offline on the master stage, from an EventBridge
  event or a poll; sent once per change, after the state is written.
"""

from django.dispatch import Signal

stage_created = Signal()
stage_deleted = Signal()
host_live_changed = Signal()
