import pytest
from moto import mock_aws

from ivsproject.redis import get_redis


@pytest.fixture(autouse=True)
def _no_aws():
    """Every test runs under moto: nothing can ever reach real AWS."""
    with mock_aws():
        yield


@pytest.fixture(autouse=True)
def _clean_redis():
    """Each test starts with an empty Redis database (embedded server, or db 15 in CI)."""
    client = get_redis()
    client.flushdb()
    yield
    client.flushdb()
