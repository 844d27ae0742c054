"""What the stats layer tells the layers above it (receivers connect in their `AppConfig.ready()`).

- `stats_pushed(totals, at)`: a push went out; `totals` maps every live room's id to the viewers it
  showed, `at` is the push's time (epoch seconds). Reports raise a live broadcast's peak from it, so
  the peak is the highest count any operator or client was shown, not only the sampled ones.
"""

from django.dispatch import Signal

stats_pushed = Signal()
