"""Names the privacy-request side still imports from here, until its own stores (requests, holds,
audit) move into this package as well (issue 13, item 2); new code imports from the store modules:
:mod:`~callguard.storage.calls`, :mod:`~callguard.storage.subjects`, :mod:`~callguard.storage.keys`,
:mod:`~callguard.storage.expiry`, :mod:`~callguard.storage.dynamo`, :mod:`~callguard.storage.transcripts`,
:mod:`~callguard.storage.queue`. Delete this module when nothing imports it any more.
"""

from __future__ import annotations

from callguard.storage.calls import CallsRepository
from callguard.storage.dynamo import all_items, partition_items
from callguard.storage.expiry import expiry_attributes, expiry_key
from callguard.storage.queue import AnalysisQueue
from callguard.storage.subjects import IdentifierTakenError, SubjectsRepository
from callguard.storage.transcripts import TranscriptStore

__all__ = [
    "AnalysisQueue",
    "CallsRepository",
    "IdentifierTakenError",
    "SubjectsRepository",
    "TranscriptStore",
    "all_items",
    "expiry_attributes",
    "expiry_key",
    "partition_items",
]
