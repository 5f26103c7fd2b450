"""The typed ask record: it serializes as the store and the API always have."""

from __future__ import annotations

import json

from drux.records import AnswerStatus, AskRecord, AskStatus, ConsensusRecord
from drux.web.schemas import AskPublic


def _ask(consensus: object) -> AskRecord:
    return AskRecord.model_validate({
        "id": "abc", "created_at": "2026-01-01T00:00:00", "finished_at": None, "question": "q",
        "context": None, "panel": None, "models": ["m"], "skipped": [],
        "params": {"timeout": 5.0}, "status": "failed", "source": "cli", "article_id": None,
        "score": None, "verdict": "n/a", "consensus": consensus, "answers": []})


def test_a_consensus_is_written_back_as_it_was_stored() -> None:
    # A failed scoring stores four keys, and rows of other versions hold other keys: the
    # record must neither invent the missing ones (as nulls) nor drop the unknown ones.
    stored = {"score": None, "verdict": "n/a", "reason": "scoring failed", "backend": "fast",
              "from_a_later_version": [1, 2]}
    record = _ask(stored)
    assert record.model_dump(mode="json")["consensus"] == stored
    assert json.loads(record.to_json())["consensus"] == stored
    claim = {"text": "x", "supported_by": ["m"]}
    again = ConsensusRecord.model_validate({"claims": [claim]})
    assert again.model_dump(mode="json") == {"claims": [claim]}


def test_statuses_compare_and_serialize_as_the_stored_strings() -> None:
    record = _ask(None)
    assert record.status is AskStatus.FAILED and record.status == "failed"
    assert json.loads(record.to_json())["status"] == "failed"
    assert AnswerStatus("partial") is AnswerStatus.PARTIAL


def test_the_api_shape_is_the_record_without_its_parameters() -> None:
    record = _ask(None)
    public = AskPublic.model_validate(record.model_dump()).model_dump(mode="json")
    assert "params" not in public
    assert public == {k: v for k, v in record.model_dump(mode="json").items() if k != "params"}
    assert "params" not in AskPublic.model_json_schema(mode="serialization")["properties"]
