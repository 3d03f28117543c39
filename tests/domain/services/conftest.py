from __future__ import annotations

import pytest

from tests.fakes import FakeUnitOfWorkFactory, RecordingPublisher


@pytest.fixture
def uow() -> FakeUnitOfWorkFactory:
    return FakeUnitOfWorkFactory()


@pytest.fixture
def publisher() -> RecordingPublisher:
    return RecordingPublisher()
