"""A password hasher for tests that counts every password check (`verify`), so a test can observe
whether the admin login checked a password without patching the code under test."""

from __future__ import annotations

import threading
import time

from django.contrib.auth.hashers import MD5PasswordHasher


class CountingHasher(MD5PasswordHasher):
    """MD5 (fast) plus a short pause per check, so concurrent logins really overlap the check the way
    a real (slow) hash makes them overlap; `verified` counts the checks across threads."""

    algorithm = "counting_md5"
    pause_seconds = 0.0
    verified = 0
    _lock = threading.Lock()

    def verify(self, password: str, encoded: str) -> bool:
        with CountingHasher._lock:
            CountingHasher.verified += 1
        if CountingHasher.pause_seconds:
            time.sleep(CountingHasher.pause_seconds)
        return super().verify(password, encoded)

    @classmethod
    def reset(cls, pause_seconds: float = 0.0) -> None:
        with cls._lock:
            cls.verified = 0
            cls.pause_seconds = pause_seconds


HASHERS = [f"{__name__}.CountingHasher"]
