import contextlib

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connections

from tests.stats.servers import manage, migrated_copy


@pytest.fixture(scope="session")
def _migrated_server_db(tmp_path_factory):
    """A SQLite file migrated once per run; server tests each get a copy (migrations take seconds)."""
    db_file = tmp_path_factory.mktemp("server-db") / "template.sqlite3"
    manage(db_file, "migrate", "--noinput")
    return db_file


@pytest.fixture
def server_db(_migrated_server_db, tmp_path):
    return migrated_copy(_migrated_server_db, tmp_path)


@pytest.fixture
async def ws():
    """Opens communicators and always disconnects them: a consumer left running keeps a blocking
    channel-layer read that the event loop's teardown would have to cancel."""
    from ivsproject.asgi import application  # sets Django up: only once pytest-django has configured it

    opened: list[WebsocketCommunicator] = []

    def open_(path: str = "/ws", headers=None) -> WebsocketCommunicator:
        communicator = WebsocketCommunicator(application, path, headers=headers or [])
        opened.append(communicator)
        return communicator

    yield open_
    for communicator in opened:
        with contextlib.suppress(Exception):
            await communicator.disconnect(timeout=2)
    # database_sync_to_async runs in asgiref's worker thread, whose connection (kept for
    # CONN_MAX_AGE on PostgreSQL) would otherwise block dropping the test database.
    await database_sync_to_async(connections.close_all)()


@pytest.fixture
def connect(ws):
    async def connect_(headers=None) -> WebsocketCommunicator:
        communicator = ws(headers=headers)
        connected, _ = await communicator.connect()
        assert connected
        return communicator

    return connect_
