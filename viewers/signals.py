"""What the viewers layer tells the layers above it (receivers connect in their `AppConfig.ready()`).

- `capacity_needed(waiting)`: a viewer found no seat (`waiting` is the user id) or a stage just
  crossed the scale-up threshold (`waiting` is None). Sent on the token path: receivers must be
  cheap and must never raise into it.
"""

from django.dispatch import Signal

capacity_needed = Signal()
