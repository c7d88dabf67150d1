"""Retention purge: as of an instant, exactly the expired items of each category go (and every
version of their objects); holds and restrictions keep a subject's data; an interrupted run
resumes; the report is counts only."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from callguard.models import HoldIn, PrivacyRequestIn, PurgeRequestError
from callguard.names import ATTR_TTL, Env
from callguard.retention.policy import RetentionPolicy
from callguard.security.audit import AuditLog
from callguard.wiring import build_audit_anchors, build_privacy_service, build_privacy_steps, build_retention_purge
from tests.functional.analysis.test_analyze import GERMAN_SEGMENTS, sqs_event
from tests.support import PLANTED, FakeContext, api_event, call_body, load_handler

pytestmark = pytest.mark.functional

HELD_PHONE = "+49 30 5550101"
RESTRICTED_PHONE = "+49 30 5550202"
TABLES = (Env.CALLS_TABLE, Env.SUBJECTS_TABLE, Env.PRIVACY_TABLE, Env.AUDIT_TABLE)


def _plain(item: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, value in item.items():
        kind, raw = next(iter(value.items()))
        out[name] = int(raw) if kind == "N" else raw
    return out


class World:
    """Everything callguard stores for three callers, with the purge run as of chosen instants."""

    def __init__(self, aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
        self.aws, self.env = aws, aws["env"]
        self.ddb, self.s3 = aws["session"].client("dynamodb"), aws["session"].client("s3")
        self.t0 = datetime.now(UTC)
        monkeypatch.setenv(Env.PURGE_ALLOW_FUTURE.value, "1")
        ingest, analyze, route = (load_handler(n) for n in ("ingest", "analyze", "route"))
        ingest.dependencies(aws["clients"])
        analyze.service(aws["clients"])
        route.service(aws["clients"])
        self.subject: dict[str, str] = {}
        for name, phone, calls in (("planted", PLANTED["phone"], 2), ("held", HELD_PHONE, 1),
                                   ("restricted", RESTRICTED_PHONE, 1)):  # fmt: skip
            for n in range(calls):
                body = call_body(call_id=f"{name}-{n}", caller={"phone": phone}, segments=GERMAN_SEGMENTS)
                if n == 1:
                    del body["ended_at"]  # a live call: segments follow, each a new object version
                answer = ingest.lambda_handler(api_event("POST", "/v1/calls", body), FakeContext())
                self.subject[name] = json.loads(answer["body"])["subject_id"]
                analyze.lambda_handler(sqs_event(f"{name}-{n}"), FakeContext())
        segment = {"speaker": "customer", "start_ms": 9000, "end_ms": 9500, "text": PLANTED["transcript"]}
        event = api_event("POST", "/v1/calls/planted-1/segments", {"segments": [segment]})
        event["resource"], event["pathParameters"] = "/v1/calls/{call_id}/segments", {"call_id": "planted-1"}
        assert ingest.lambda_handler(event, FakeContext())["statusCode"] == 200  # a second object version
        decision = {"caller": {"phone": PLANTED["phone"]}, "channel": "voice", "utterance": "Die Rechnung ist falsch!"}
        route.lambda_handler(
            api_event("POST", "/v1/routing/decisions", decision, scopes="callguard/routing:decide"), FakeContext()
        )
        privacy = build_privacy_service(aws["clients"])
        privacy.add_hold(HoldIn.model_validate({"subject": {"phone": HELD_PHONE}, "reason": "pending litigation"}))
        ingest.dependencies().service.subjects.set_flag(self.subject["restricted"], "restricted_at", self.t0)
        self.request_id = privacy.submit(
            PrivacyRequestIn.model_validate({"type": "access", "subject": {"phone": PLANTED["phone"]}})
        )["request_id"]
        steps = build_privacy_steps(aws["clients"])
        assert steps.collect_subject_data(self.request_id)["next_page"] is None
        steps.assemble_export(self.request_id)
        audit = AuditLog(self.ddb, self.env[Env.AUDIT_TABLE], RetentionPolicy.defaults())
        for n in range(3):
            audit.append(actor="agent-17", action="calls.read", resource=f"call/planted-{n % 2}")
        # the purge removes audit entries only of days with a signed anchor: close today's day now
        anchors = build_audit_anchors(aws["clients"])
        anchors.clock = lambda: datetime.now(UTC) + timedelta(days=1, hours=1)
        assert anchors.anchor().days
        self.held = {self.subject["held"], self.subject["restricted"]}
        self.handler = load_handler("purge")
        self.handler.purge(aws["clients"])

    def at(self, days: int) -> datetime:
        return self.t0 + timedelta(days=days, hours=1)

    def purge(self, days: int) -> dict[str, Any]:
        report: dict[str, Any] = self.handler.lambda_handler(
            {"as_of": self.at(days).isoformat()}, FakeContext(remaining_ms=900_000)
        )
        return report

    def items(self) -> dict[str, list[dict[str, Any]]]:
        return {
            str(t): [
                _plain(i) for p in self.ddb.get_paginator("scan").paginate(TableName=self.env[t]) for i in p["Items"]
            ]
            for t in TABLES
        }

    def versions(self, bucket: Env) -> dict[str, int]:
        counts: dict[str, int] = {}
        for page in self.s3.get_paginator("list_object_versions").paginate(Bucket=self.env[bucket]):
            for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                counts[v["Key"]] = counts.get(v["Key"], 0) + 1
        return counts

    def has_key(self, subject_id: str) -> bool:
        key = {"subject_id": {"S": subject_id}}
        return "Item" in self.ddb.get_item(TableName=self.env[Env.KEYS_TABLE], Key=key)

    def gone_subjects(self, before: dict[str, list[dict[str, Any]]], cutoff: int) -> set[str]:
        return {
            i["subject_id"]
            for i in before[str(Env.SUBJECTS_TABLE)]
            if i["sk"] == "PROFILE" and i["expires_at"] <= cutoff and i["subject_id"] not in self.held
        }

    def expected_deletions(self, before: dict[str, list[dict[str, Any]]], as_of: datetime) -> int:
        """Index entries the purge must delete: expired, unheld items, and one per expired subject."""
        cutoff = int(as_of.timestamp())
        items = sum(
            1
            for table, rows in before.items()
            if table != str(Env.SUBJECTS_TABLE)
            for i in rows
            if "expires_at" in i and i["expires_at"] <= cutoff and i.get("subject_id") not in self.held
        )
        return items + len(self.gone_subjects(before, cutoff))

    def expected(self, before: dict[str, list[dict[str, Any]]], as_of: datetime) -> dict[str, set[tuple[str, str]]]:
        """What a purge as of ``as_of`` must leave: the policy, written out independently."""
        cutoff = int(as_of.timestamp())
        gone_subjects = self.gone_subjects(before, cutoff)
        keep: dict[str, set[tuple[str, str]]] = {}
        for table, items in before.items():
            kept = keep.setdefault(table, set())
            for i in items:
                if str(i["pk"]).startswith("PURGE#"):  # earlier runs' reports
                    continue
                if table == str(Env.SUBJECTS_TABLE):
                    owner = i["pk"].removeprefix("SUBJECT#") if i["pk"].startswith("SUBJECT#") else i["subject_id"]
                    if owner in gone_subjects:
                        continue
                elif "expires_at" in i and i["expires_at"] <= cutoff and i.get("subject_id") not in self.held:
                    continue
                kept.add((str(i["pk"]), str(i["sk"])))
        return keep


def _keys(items: dict[str, list[dict[str, Any]]]) -> dict[str, set[tuple[str, str]]]:
    return {
        t: {(str(i["pk"]), str(i["sk"])) for i in rows if not str(i["pk"]).startswith("PURGE#")}
        for t, rows in items.items()
    }


@pytest.fixture
def world(aws: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> World:
    return World(aws, monkeypatch)


def test_each_category_goes_exactly_when_its_period_ends_and_holds_keep_data(world: World) -> None:
    planted, held = world.subject["planted"], world.subject["held"]
    transcripts0 = world.versions(Env.TRANSCRIPTS_BUCKET)
    assert transcripts0[f"transcripts/{planted}/planted-1.sealed"] == 2
    nothing = world.purge(1)
    assert nothing["complete"]
    assert sum(c["deleted"] for c in nothing["categories"].values()) == 0

    for days, gone in (
        (8, {"exports"}),
        (91, {"transcripts", "calls", "routing_decisions"}),
        (181, {"followups"}),
        (366, {"analyses", "subjects"}),
        (3 * 365 + 1, {"privacy_requests"}),
        (6 * 365 + 1, {"audit", "privacy_requests"}),
    ):  # fmt: skip  (earlier runs' reports)
        before = world.items()
        report = world.purge(days)
        assert report["complete"], days
        assert _keys(world.items()) == world.expected(before, world.at(days)), days
        deleted = {c for c, n in report["categories"].items() if n["deleted"]}
        assert deleted == gone, days

        if days == 8:
            assert world.versions(Env.EXPORTS_BUCKET) == {}
            view = build_privacy_service(world.aws["clients"]).view(world.request_id, presign=lambda b, k: "url")
            assert view["result"]["download"] == "expired"
            assert "download_url" not in view["result"]
        if days == 91:
            left = world.versions(Env.TRANSCRIPTS_BUCKET)
            assert not [k for k in left if k.startswith(f"transcripts/{planted}/")]  # every version
            assert left[f"transcripts/{held}/held-0.sealed"] == 1  # under legal hold
            assert report["categories"]["transcripts"]["object_versions"] == 3
            assert report["categories"]["calls"]["held"] == 2
            call = world.ddb.get_item(
                TableName=world.env[Env.CALLS_TABLE], Key={"pk": {"S": "CALL#held-0"}, "sk": {"S": "CALL"}}
            )["Item"]
            assert int(call[ATTR_TTL]["N"]) > int(world.at(91).timestamp())  # the backstop moved out too
        if days == 366:
            assert not world.has_key(planted)  # crypto-shredded with the subject
            assert world.has_key(held)
            assert report["categories"]["subjects"] == {"expired": 3, "deleted": 1, "held": 2, "object_versions": 0}


def test_an_interrupted_purge_resumes_and_a_repeated_one_finds_nothing(world: World) -> None:
    before = world.items()
    as_of = world.at(366)
    purge = build_retention_purge(world.aws["clients"])
    purge.page_size = 2
    pages = iter(range(10_000))
    first = purge.run(as_of, should_stop=lambda: next(pages) >= 20)  # stops inside the third category
    assert not first.complete
    partial = first.deleted
    assert partial > 0
    second = purge.run(as_of)
    assert second.complete
    assert _keys(world.items()) == world.expected(before, as_of)
    # every expired item deleted once, none twice
    assert first.deleted + second.deleted == world.expected_deletions(before, as_of)
    third = purge.run(as_of)
    assert third.complete
    assert third.deleted == 0


def test_the_report_holds_counts_only_and_the_future_needs_the_local_switch(
    world: World, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    report = world.purge(366)
    emitted = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    purged = {m["category"]: m["ItemsPurged"] for m in emitted if "ItemsPurged" in m}
    assert purged["subjects"] == [1.0]  # one metric per category, as the dashboards and alarms read them
    assert emitted[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["service", "category"]]
    text = json.dumps(report) + json.dumps(emitted)
    for value in (*PLANTED.values(), *world.subject.values(), "planted-0", world.request_id):
        assert value not in text
    assert set(report) == {"run_id", "as_of", "started_at", "complete", "duration_ms", "items_read", "categories"}
    stored = world.ddb.scan(
        TableName=world.env[Env.PRIVACY_TABLE],
        FilterExpression="begins_with(pk, :p)",
        ExpressionAttributeValues={":p": {"S": "PURGE#"}},
    )["Items"]
    assert json.loads(stored[0]["report"]["S"])["run_id"] == report["run_id"]
    monkeypatch.delenv(Env.PURGE_ALLOW_FUTURE.value)
    with pytest.raises(PurgeRequestError, match="future"):
        world.purge(1)
    with pytest.raises(PurgeRequestError, match="time zone"):
        world.handler.lambda_handler({"as_of": "2027-01-01T00:00:00"}, FakeContext(900_000))


def test_an_export_at_day_91_holds_the_analyses_that_outlived_their_calls(world: World) -> None:
    """Calls go after 90 days, their redacted analyses after 365: an Art. 15 export on day 91
    holds everything still stored — the analyses too, marked as outliving their call record."""
    world.purge(91)
    kept = {(i["pk"], i["sk"]) for i in world.items()[str(Env.CALLS_TABLE)] if i["pk"].startswith("CALL#planted-")}
    assert not [pk for pk, sk in kept if sk == "CALL"]  # the call records are gone
    assert {pk for pk, sk in kept if sk == "ANALYSIS"} == {"CALL#planted-0", "CALL#planted-1"}
    privacy, steps = build_privacy_service(world.aws["clients"]), build_privacy_steps(world.aws["clients"])
    steps.clock = privacy.clock = lambda: world.at(91)
    request_id = privacy.submit(
        PrivacyRequestIn.model_validate({"type": "access", "subject": {"phone": PLANTED["phone"]}})
    )["request_id"]
    assert steps.collect_subject_data(request_id)["next_page"] is None
    steps.assemble_export(request_id)
    result = steps.requests.get(request_id).result  # type: ignore[union-attr]
    body = world.s3.get_object(Bucket=result["export"]["bucket"], Key=result["export"]["key"])["Body"].read()
    exported = {c["call_id"]: c for c in json.loads(body)["data"]["calls"]}
    assert set(exported) == {"planted-0", "planted-1"}
    for call in exported.values():
        assert call["call_record"] == "deleted at the end of its retention period"
        assert call["analysis"]["status"] == "done"
        assert call["analysis"]["segments"]  # the redacted text stored with the analysis is exported
        assert PLANTED["iban"] not in json.dumps(call, ensure_ascii=False)  # redacted, as stored
