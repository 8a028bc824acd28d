"""pytest fixtures for the pack checks (helpers live in packlib.py)."""

import pytest

from packlib import core_schema, postern_schema


@pytest.fixture(scope="session")
def schemas():
    return postern_schema(), core_schema()
