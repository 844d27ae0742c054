"""`make bench` (`python -m bench`): the performance suite of issue 7. See bench/README.md."""
