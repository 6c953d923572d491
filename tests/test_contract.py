"""The job contract: pinned record format, validation, transitions and key layout."""

from __future__ import annotations

import json
import re
from dataclasses import replace
from pathlib import Path

import pytest

from inference.contract import (
    CONTRACT_VERSION,
    TRANSITIONS,
    Actor,
    ClipResult,
    ContractError,
    FilterScores,
    GenerationSpec,
    JobEvent,
    JobRecord,
    JobStatus,
    Keys,
    ModelId,
    check_transition,
)

GOLDEN = Path(__file__).parent / "golden" / "job_record_v1.json"


def sample_record() -> JobRecord:
    return JobRecord(
        id="k3v9q2m7x1ab",
        request_id="1311234567890123456",
        guild_id="1111111111111111111",
        channel_id="2222222222222222222",
        user_id="3333333333333333333",
        spec=GenerationSpec(
            prompt="A honeybee lands on a sunflower at golden hour, slow push-in",
            model=ModelId.COGVIDEOX_5B_I2V,
            negative_prompt="blurry",
            seed=42,
            image_ref="blob:input-k3v9q2m7x1ab",
            original_prompt="a bee on a flower",
        ),
        status=JobStatus.SUCCEEDED,
        weight=2.0,
        attempts=1,
        max_attempts=3,
        created_at=1795000000.25,
        updated_at=1795000123.5,
        started_at=1795000010.0,
        finished_at=1795000123.5,
        worker_id="gpu-box-1-4242",
        result=sample_result().to_dict(),
    )


def sample_result() -> ClipResult:
    return ClipResult(
        clip_ref="redis:clips/k3v9q2m7x1ab.mp4",
        clip_url=None,
        size=1_234_567,
        model="cogvideox-5b-i2v",
        frames=49,
        fps=8.0,
        width=720,
        height=480,
        seed=42,
        steps=50,
        guidance=6.0,
        prompt="A honeybee lands on a sunflower at golden hour, slow push-in",
        render_seconds=88.125,
        encode_seconds=1.5,
        nsfw=FilterScores(max=0.25, mean=0.125, frames=(0, 48), scores=(0.0, 0.25), seconds=0.75),
    )


def test_record_json_matches_the_golden_file() -> None:
    assert sample_record().to_json() == GOLDEN.read_text().strip()


def test_golden_file_reads_back_to_the_same_record() -> None:
    assert JobRecord.from_json(GOLDEN.read_text()) == sample_record()


def test_redis_hash_projection_round_trips() -> None:
    record = sample_record()
    fields = record.to_fields()
    assert fields["v"] == str(CONTRACT_VERSION)
    assert all(isinstance(v, str) for v in fields.values())
    assert JobRecord.from_fields(fields) == record
    # bytes from a client without decode_responses, and queue-internal fields, are fine
    raw = {k.encode(): v.encode() for k, v in fields.items()} | {b"lease": b"7", b"seq": b"3"}
    assert JobRecord.from_fields(raw) == record


def test_snowflakes_are_strings_so_they_survive_json() -> None:
    data = json.loads(sample_record().to_json())
    assert data["guild_id"] == "1111111111111111111"
    assert isinstance(data["user_id"], str)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(v=2), "contract version 2; this Reelbot reads version 1"),
        (lambda d: d.pop("v"), "contract version None"),
        (lambda d: d.update(status="exploded"), "unknown job status 'exploded'"),
        (lambda d: d.update(extra=1), r"unknown job record fields: \['extra'\]"),
        (lambda d: d.pop("guild_id"), "required field 'guild_id' is missing"),
        (lambda d: d.update(attempts="1"), "field 'attempts' must be int"),
        (lambda d: d.update(attempts=True), "field 'attempts' must be an integer"),
        (lambda d: d.update(guild_id="not-a-snowflake"), "guild_id 'not-a-snowflake' is not a Discord id"),
        (lambda d: d["spec"].update(model="sora"), "unknown model 'sora'"),
        (lambda d: d.update(spec="a bee"), "spec must be a JSON object"),
        (lambda d: d.update(result=[1]), "result must be a JSON object"),
        (lambda d: d.update(weight="heavy"), "field 'weight' must be a number"),
    ],
)
def test_malformed_records_raise_contract_errors(mutate, message: str) -> None:
    data = json.loads(GOLDEN.read_text())
    mutate(data)
    with pytest.raises(ContractError, match=message):
        JobRecord.from_json(json.dumps(data))


@pytest.mark.parametrize("text", ["", "{", "[1, 2]", b"\xff\xfe", "null"])
def test_garbage_is_a_contract_error(text: str | bytes) -> None:
    with pytest.raises(ContractError):
        JobRecord.from_json(text)


def test_malformed_hash_fields_are_contract_errors() -> None:
    fields = sample_record().to_fields()
    with pytest.raises(ContractError, match="malformed"):
        JobRecord.from_fields(fields | {"attempts": "one"})
    with pytest.raises(ContractError, match="malformed"):
        JobRecord.from_fields(fields | {"spec": "{oops"})
    with pytest.raises(ContractError, match="empty"):
        JobRecord.from_fields({})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (dict(prompt="   "), "the prompt is empty"),
        (dict(prompt="x" * 2001), "has 2001 characters; keep it under 2000"),
        (dict(prompt="a cat", model=ModelId.COGVIDEOX_5B_I2V), "animates an image: attach one"),
        (dict(prompt="a cat", image_ref="blob:x"), "does not take an image"),
        (dict(prompt="a cat", seed=-1), "seed -1 is out of range"),
        (dict(prompt="a cat", steps=0), "steps 0 is out of range"),
        (dict(prompt="a cat", guidance=99.0), "guidance 99.0 is out of range"),
    ],
)
def test_spec_errors_say_how_to_fix_them(spec: dict[str, object], message: str) -> None:
    with pytest.raises(ContractError, match=message):
        GenerationSpec(**spec)  # type: ignore[arg-type]


def test_spec_rejects_unknown_fields() -> None:
    with pytest.raises(ContractError, match="unknown generation spec fields"):
        GenerationSpec.from_dict({"prompt": "a cat", "frames": 999})


def test_image_models_are_the_i2v_lanes() -> None:
    assert {m for m in ModelId if m.image_to_video} == {ModelId.COGVIDEOX_5B_I2V, ModelId.COGVIDEOX15_5B_I2V}


def test_transitions_and_who_may_make_them() -> None:
    check_transition(JobStatus.QUEUED, JobStatus.RUNNING, Actor.WORKER)
    check_transition(JobStatus.RUNNING, JobStatus.QUEUED, Actor.REAPER)
    with pytest.raises(ContractError, match="bot may not move a job from queued to running"):
        check_transition(JobStatus.QUEUED, JobStatus.RUNNING, Actor.BOT)
    with pytest.raises(ContractError, match="cannot go from succeeded to queued"):
        check_transition(JobStatus.SUCCEEDED, JobStatus.QUEUED, Actor.REAPER)


def test_terminal_statuses_have_no_way_out() -> None:
    for old, _new in TRANSITIONS:
        assert not old.terminal
    assert {s for s in JobStatus if s.terminal} == {
        JobStatus.SUCCEEDED,
        JobStatus.FAILED,
        JobStatus.CANCELLED,
    }


def test_with_status_checks_the_transition() -> None:
    queued = replace(sample_record(), status=JobStatus.QUEUED, result=None)
    running = queued.with_status(JobStatus.RUNNING, Actor.WORKER, attempts=1)
    assert (running.status, running.attempts) == (JobStatus.RUNNING, 1)
    with pytest.raises(ContractError):
        running.with_status(JobStatus.QUEUED, Actor.BOT)


def test_keys_live_under_a_versioned_hash_tagged_prefix() -> None:
    keys = Keys("reelbot")
    assert keys.prefix == "{reelbot}:v1:"
    assert keys.job("abc123") == "{reelbot}:v1:job:abc123"
    assert keys.lane_jobs("cogvideox-2b", "1", "2") == "{reelbot}:v1:lane:cogvideox-2b:g:1:u:2"
    assert keys.lane_from_key(keys.lane_state("cogvideox1.5-5b")) == "cogvideox1.5-5b"
    builders = [name for name in dir(keys) if not name.startswith("_") and callable(getattr(keys, name))]
    for name in builders:
        if name == "lane_from_key":
            continue
        fn = getattr(keys, name)
        argc = fn.__code__.co_argcount - 1
        assert fn(*["x1"] * argc).startswith(keys.prefix), name


@pytest.mark.parametrize("bad", ["", "has space", "a" * 65, "{brace}"])
def test_namespace_is_checked(bad: str) -> None:
    with pytest.raises(ContractError, match="namespace"):
        Keys(bad)


def test_event_fields_parse_and_unknown_versions_are_refused() -> None:
    fields = {
        "v": "1", "type": "progress", "job": "k3v9q2m7x1ab", "guild": "1", "channel": "2",
        "user": "3", "at": "1795000000.5", "attempt": "2", "data": '{"step":3,"total":50}',
    }  # fmt: skip
    event = JobEvent.from_fields(fields)
    assert (event.type, event.attempt, event.data) == ("progress", 2, {"step": 3, "total": 50})
    assert not event.type.final
    with pytest.raises(ContractError, match="contract version 7"):
        JobEvent.from_fields(fields | {"v": "7"})
    with pytest.raises(ContractError, match="malformed"):
        JobEvent.from_fields(fields | {"type": "exploded"})
    with pytest.raises(ContractError, match="malformed"):
        JobEvent.from_fields({k: v for k, v in fields.items() if k != "job"})


def test_contract_module_uses_only_the_standard_library() -> None:
    source = (Path(__file__).parents[1] / "inference" / "contract.py").read_text()
    imported = set(re.findall(r"^(?:from|import) ([a-z_]+)", source, flags=re.M))
    import sys

    assert imported <= set(sys.stdlib_module_names) | {"__future__"}, imported


def test_a_succeeded_job_reads_its_clip_as_a_typed_result() -> None:
    record = JobRecord.from_json(GOLDEN.read_text())
    assert record.clip() == sample_result()
    assert record.clip().duration == 49 / 8  # type: ignore[union-attr]
    assert replace(record, result=None).clip() is None
    # the stored JSON keeps the worker's key names (``bytes``), and round-trips
    assert sample_result().to_dict()["bytes"] == 1_234_567
    assert ClipResult.from_dict(sample_result().to_dict()) == sample_result()
    assert ClipResult.from_dict(replace(sample_result(), nsfw=None).to_dict()).nsfw is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.pop("clip_ref"), "required field 'clip_ref' is missing"),
        (lambda d: d.update(clip="blob:x"), r"unknown clip result fields: \['clip'\]"),
        (lambda d: d.update(frames="49"), "field 'frames' must be int"),
        (lambda d: d.update(fps=None), "required field 'fps' is missing"),
        (lambda d: d.update(frames=0), "clip result out of range"),
        (lambda d: d["nsfw"].update(max=1.5), "between 0 and 1"),
        (lambda d: d["nsfw"].update(frames=[0]), "one score per frame"),
        (lambda d: d["nsfw"].update(extra=1), r"unknown filter score fields"),
        (lambda d: d.update(nsfw=[0.1]), "filter scores must be a JSON object"),
    ],
)
def test_a_malformed_clip_result_is_a_contract_error(mutate, message: str) -> None:
    data = json.loads(GOLDEN.read_text())
    mutate(data["result"])
    record = JobRecord.from_json(json.dumps(data))  # the queue stores results without reading them
    with pytest.raises(ContractError, match=message):
        record.clip()
