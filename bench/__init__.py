"""`make bench` (`python -m bench`): the performance suite. See bench/README.md."""
