"""pytest fixtures for the end-to-end tests (helpers live in harness.py)."""

import os
import shutil
import tempfile

import pytest

from harness import Core, Ext, wait_for


@pytest.fixture
def workdir():
    # Unix socket paths are limited to ~108 bytes: keep the directory short.
    d = tempfile.mkdtemp(prefix="pst")
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def core(workdir):
    c = Core(workdir)
    yield c
    c.stop()


@pytest.fixture
def start_ext(core):
    started = []

    def start(**kwargs):
        e = Ext(core.socket, **kwargs)
        started.append(e)
        return e

    yield start
    for e in started:
        e.stop()


@pytest.fixture
def registered(core, start_ext):
    """A registered extension with the selftest table; returns (ext, uuid, path)."""
    ext = start_ext(env={"POSTERN_SELFTEST": "1", "POSTERN_TABLE_DEADLINE_SECS": "2",
                         "POSTERN_QUEUE_WAIT_SECS": "1"})
    uuid, _ = wait_for(core.registered, what="registration")
    path = "%s.%d" % (core.socket, uuid)
    wait_for(lambda: os.path.exists(path), what="extension socket")
    return ext, uuid, path
