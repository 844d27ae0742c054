import pytest
from botocore.retries import standard

from stages.ivs import reset_client


@pytest.fixture(autouse=True)
def _emulated_ivs(settings, monkeypatch):
    """The emulator backend with a clean slate and without waits unrelated to the test at hand.

    Budgets are raised (the budget tests lower them again) and botocore's retry backoff is zeroed,
    so injected throttles are retried instantly.
    """
    settings.IVS_BACKEND = "emulator"
    settings.IVS_TOKEN_SIGNING = "self"
    settings.IVS_PRIVATE_KEY = ""
    settings.IVS_PUBLIC_KEY_ARN = ""
    settings.IVS_STAGE_CALLS_PER_SECOND = 10_000
    settings.IVS_TOKEN_CALLS_PER_SECOND = 10_000
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0.0)
    reset_client()
    yield
    reset_client()
