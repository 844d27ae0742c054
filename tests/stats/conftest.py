import pytest

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
