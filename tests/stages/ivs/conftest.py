import pytest

from stages.ivs import reset_client


@pytest.fixture(autouse=True)
def _emulated_ivs(settings, monkeypatch):
    """The emulator backend with self-signing and no configured key (budgets and retry backoff are
    relaxed for every test by the root conftest)."""
    settings.IVS_BACKEND = "emulator"
    settings.IVS_TOKEN_SIGNING = "self"
    settings.IVS_PRIVATE_KEY = ""
    settings.IVS_PUBLIC_KEY_ARN = ""
    reset_client()
    yield
    reset_client()
