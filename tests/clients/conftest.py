"""Shared fixtures of the client-library layer (run by tests/clients/run.sh, which starts the
cluster and exports PGHOST, PGPORT, PGUSER, PGDATABASE)."""
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from reference import Data, env  # noqa: E402


@pytest.fixture(scope='session')
def data():
    """Every value the tests insert and query, from one fixed numpy seed."""
    return Data()


@pytest.fixture(scope='session')
def pg():
    """Connection settings: host, port, user, dbname, extension (vector or vector_ext)."""
    return env()
