"""Fixtures for link and session tests over real pseudo-terminals."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from pty_module import FAST, ModuleDouble, PtyPair, Responder

from device_io.session import ModuleSession, open_session


@pytest.fixture
def pty_pair() -> Iterator[PtyPair]:
    pair = PtyPair()
    yield pair
    pair.close()


@pytest.fixture
def respond(
    pty_pair: PtyPair,
) -> Iterator[Callable[[Callable[[str], bytes]], Responder]]:
    """Start a responder thread on the pty with the given line handler."""
    started: list[Responder] = []

    def start(handler: Callable[[str], bytes]) -> Responder:
        responder = Responder(pty_pair, handler)
        responder.start()
        started.append(responder)
        return responder

    yield start
    for responder in started:
        responder.stop()


@pytest.fixture
def module() -> ModuleDouble:
    return ModuleDouble()


@pytest.fixture
def session(
    pty_pair: PtyPair,
    respond: Callable[[Callable[[str], bytes]], Responder],
    module: ModuleDouble,
) -> Iterator[ModuleSession]:
    """A session on slot A1 talking to the module double."""
    respond(module)
    with open_session(pty_pair.path, slot="A1", settings=FAST) as opened:
        yield opened
