"""The channel layer's Redis reads must outlast channels-redis's blocking pop, or every idle
consumer dies with 1011 ("Timeout reading from ...") after a few seconds without traffic."""

from channels.layers import get_channel_layer
from channels_redis.utils import create_pool
from redis._defaults import DEFAULT_SOCKET_TIMEOUT


def test_channel_layer_socket_timeout_outlasts_the_blocking_pop():
    layer = get_channel_layer()
    for host in layer.hosts:
        pool = create_pool(host)
        timeout = pool.connection_kwargs.get("socket_timeout", DEFAULT_SOCKET_TIMEOUT)
        assert timeout is None or timeout > layer.brpop_timeout + 1, (host, timeout, layer.brpop_timeout)
