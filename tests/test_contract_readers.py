"""The contract's readers are total: whatever bytes Redis hands back, they return a valid object
or raise ContractError, never another exception (a delivery loop sets a ContractError aside;
anything else would stop it or be retried forever).

hypothesis is not installed, so the inputs come from a deterministic mutation table: every
field of the golden record (and of its spec, result and filter scores) and of an event, set to
each awkward value or removed, in JSON, as a Redis hash, and as raw bytes.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from inference.contract import (
    ClipResult,
    ContractError,
    GenerationSpec,
    JobEvent,
    JobRecord,
    Keys,
    check_lane_name,
)

GOLDEN_TEXT = (Path(__file__).parent / "golden" / "job_record_v1.json").read_text().strip()
GOLDEN: dict[str, Any] = json.loads(GOLDEN_TEXT)
EVENT: dict[str, str] = {
    "v": "1", "type": "progress", "job": "k3v9q2m7x1ab", "guild": "1111111111111111111",
    "channel": "2222222222222222222", "user": "3333333333333333333", "at": "1795000000.5",
    "attempt": "2", "data": '{"step":3,"total":50}',
}  # fmt: skip

#: nested deeper than the json module's recursion limit
DEEP_JSON = "[" * 100_000 + "]" * 100_000
DEEP_OBJECT = '{"a":' * 100_000 + "1" + "}" * 100_000
INVALID_UTF8 = b"\xff\xfe\xc3\x28"


def deep_list(depth: int = 100_000) -> list[Any]:
    """A list nested ``depth`` deep, built without recursion."""
    root: list[Any] = []
    node = root
    for _ in range(depth):
        child: list[Any] = []
        node.append(child)
        node = child
    return root


#: values a JSON field may hold instead of the right one
AWKWARD_VALUES: list[Any] = [
    None, True, False, 0, -1, 2**64, 10**400, 1.5, -0.0, math.inf, -math.inf, math.nan,
    "", " ", "x", "1", "1\n", "\n", "null", "é", "\ud800", [], [1], {}, {"a": 1},
]  # fmt: skip
#: strings a Redis hash or stream field may hold instead of the right one
AWKWARD_TEXTS: list[str | bytes] = [
    "", " ", "x", "-1", "0", "1\n", "nan", "inf", "-inf", "1e999", "9" * 5000, "null", "[]", "{}",
    "[1]", '"s"', "true", "{oops", DEEP_JSON, DEEP_OBJECT, INVALID_UTF8, b"1", "١٢٣",
]  # fmt: skip


# ------------------------------------------------------------------------- mutations


def record_mutations() -> Iterator[tuple[str, dict[str, Any]]]:
    """The golden record with one field (top level, spec, result or filter scores) changed or gone."""
    places: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = [
        ("", lambda d: d),
        ("spec.", lambda d: d["spec"]),
        ("result.", lambda d: d["result"]),
        ("result.nsfw.", lambda d: d["result"]["nsfw"]),
    ]
    for prefix, where in places:
        for key in list(where(copy.deepcopy(GOLDEN))):
            gone = copy.deepcopy(GOLDEN)
            del where(gone)[key]
            yield f"{prefix}{key} removed", gone
            for value in AWKWARD_VALUES:
                changed = copy.deepcopy(GOLDEN)
                where(changed)[key] = value
                yield f"{prefix}{key}={value!r:.20}", changed
        extra = copy.deepcopy(GOLDEN)
        where(extra)["zz"] = 1
        yield f"{prefix}unknown field", extra
    for key in ("id", "guild_id", "channel_id", "user_id", "request_id", "worker_id"):
        for suffix in ("\n", "\r\n", " ", "\x00"):
            changed = copy.deepcopy(GOLDEN)
            changed[key] += suffix
            yield f"{key} ending in {suffix!r}", changed


def hash_mutations() -> Iterator[tuple[str, dict[str | bytes, str | bytes]]]:
    """The golden record's Redis hash with one field set to awkward text (or bytes)."""
    fields: dict[str | bytes, str | bytes] = dict(JobRecord.from_json(GOLDEN_TEXT).to_fields())
    for key in list(fields):
        for value in AWKWARD_TEXTS:
            yield f"{key!s}={value!r:.20}", {**fields, key: value}
    yield "a key that is not UTF-8", {**fields, INVALID_UTF8: "1"}
    yield "not text at all", {**fields, "attempts": 1, "spec": None}  # type: ignore[dict-item]


def event_mutations() -> Iterator[tuple[str, dict[str | bytes, Any]]]:
    """The event's stream fields with one field set to awkward text (or bytes) or removed."""
    for key in EVENT:
        yield f"{key} removed", {k: v for k, v in EVENT.items() if k != key}
        for value in [*AWKWARD_TEXTS, EVENT[key] + "\n"]:
            yield f"{key}={value!r:.20}", {**EVENT, key: value}
    yield "a key that is not UTF-8", {**EVENT, INVALID_UTF8: "1"}
    yield "as bytes", {k.encode(): v.encode() for k, v in EVENT.items()}


def text_mutations() -> Iterator[tuple[str, str | bytes]]:
    """The golden JSON text cut short, its bytes broken, or replaced by something else."""
    for cut in range(0, len(GOLDEN_TEXT), 97):
        yield f"cut at {cut}", GOLDEN_TEXT[:cut]
    raw = GOLDEN_TEXT.encode()
    for at in range(0, len(raw), 151):
        yield f"byte {at} not UTF-8", raw[:at] + b"\xff" + raw[at + 1 :]
    yield "deep list", DEEP_JSON
    yield "deep object", DEEP_OBJECT
    yield "deep record", GOLDEN_TEXT[:-1] + ',"result":' + DEEP_OBJECT + "}"
    yield "NaN weight", GOLDEN_TEXT.replace('"weight":2.0', '"weight":NaN')
    yield "huge exponent", GOLDEN_TEXT.replace('"created_at":1795000000.25', '"created_at":1e999')
    yield "huge integer", GOLDEN_TEXT.replace('"attempts":1', '"attempts":' + "9" * 5000)
    yield "UTF-16", GOLDEN_TEXT.encode("utf-16")
    yield "a lone surrogate", GOLDEN_TEXT.replace("blurry", "\\ud800")


RECORDS = list(record_mutations())
HASHES = list(hash_mutations())
EVENTS = list(event_mutations())
TEXTS = list(text_mutations())


def test_the_tables_are_large_enough() -> None:
    assert len(RECORDS) >= 50 and len(HASHES) >= 50 and len(EVENTS) >= 50 and len(TEXTS) >= 20


# --------------------------------------------------------------------------- checks


def valid_record(record: JobRecord) -> None:
    """An accepted record survives its own round trips and holds no value JSON cannot carry."""
    assert JobRecord.from_json(record.to_json()) == record
    assert JobRecord.from_fields(record.to_fields()) == record
    # a result the queue stores without reading: only its reader must be total
    read_or_refuse(record.clip)


def read_or_refuse(read: Callable[[], Any]) -> Any:
    """Call a reader: a result, or None when it raised ContractError; anything else fails the test."""
    try:
        return read()
    except ContractError:
        return None


@pytest.mark.parametrize(("case", "data"), RECORDS, ids=[c for c, _ in RECORDS])
def test_a_mutated_record_is_read_or_refused_with_a_contract_error(case: str, data: dict[str, Any]) -> None:
    record = read_or_refuse(lambda: JobRecord.from_dict(data))
    if record is not None:
        valid_record(record)
    try:
        text = json.dumps(data)
    except (ValueError, RecursionError):
        return  # not JSON at all (no reader sees it); from_dict had it above
    assert read_or_refuse(lambda: JobRecord.from_json(text)) == record or math.nan in _leaves(data)
    # the spec and the result are read on their own too
    for part, reader in (("spec", GenerationSpec.from_dict), ("result", ClipResult.from_dict)):
        read_or_refuse(lambda part=part, reader=reader: reader(data.get(part)))  # type: ignore[misc]


@pytest.mark.parametrize(("case", "fields"), HASHES, ids=[c for c, _ in HASHES])
def test_a_mutated_redis_hash_is_read_or_refused_with_a_contract_error(
    case: str, fields: Mapping[Any, Any]
) -> None:
    record = read_or_refuse(lambda: JobRecord.from_fields(fields))
    if record is not None:
        valid_record(record)


@pytest.mark.parametrize(("case", "fields"), EVENTS, ids=[c for c, _ in EVENTS])
def test_a_mutated_event_is_read_or_refused_with_a_contract_error(
    case: str, fields: Mapping[Any, Any]
) -> None:
    event = read_or_refuse(lambda: JobEvent.from_fields(fields))
    if event is not None:
        assert isinstance(event.data, dict)
        assert math.isfinite(event.at) and event.attempt >= 0
        for value in (event.job_id, event.guild_id, event.channel_id, event.user_id):
            assert value.isascii() and value.isalnum(), value


@pytest.mark.parametrize(("case", "text"), TEXTS, ids=[c for c, _ in TEXTS])
def test_mutated_json_text_is_read_or_refused_with_a_contract_error(case: str, text: str | bytes) -> None:
    record = read_or_refuse(lambda: JobRecord.from_json(text))
    if record is not None:
        valid_record(record)


def _leaves(node: Any) -> Iterator[Any]:
    if isinstance(node, dict):
        for value in node.values():
            yield from _leaves(value)
    elif isinstance(node, list):
        for value in node:
            yield from _leaves(value)
    else:
        yield node


# ----------------------------------------------------------- the cases seen in the wild


@pytest.mark.parametrize(
    "text", [DEEP_JSON, DEEP_OBJECT, GOLDEN_TEXT[:-1] + ',"result":' + DEEP_OBJECT + "}"]
)
def test_json_nested_past_the_recursion_limit_is_a_contract_error(text: str) -> None:
    with pytest.raises(ContractError, match="job record"):
        JobRecord.from_json(text)
    with pytest.raises(ContractError):
        JobRecord.from_fields(JobRecord.from_json(GOLDEN_TEXT).to_fields() | {"spec": text})
    with pytest.raises(ContractError, match="job event"):
        JobEvent.from_fields(EVENT | {"data": text})


def test_a_record_holding_a_deeply_nested_value_is_a_contract_error() -> None:
    data = copy.deepcopy(GOLDEN)
    data["result"]["nsfw"]["frames"] = deep_list()
    with pytest.raises(ContractError):
        JobRecord.from_dict(data).clip()
    data = copy.deepcopy(GOLDEN)
    data["spec"]["prompt"] = deep_list()
    with pytest.raises(ContractError):
        JobRecord.from_dict(data)


def test_bytes_that_are_not_utf8_are_a_contract_error() -> None:
    fields = JobRecord.from_json(GOLDEN_TEXT).to_fields()
    with pytest.raises(ContractError, match="UTF-8"):
        JobRecord.from_fields({k.encode(): v.encode() for k, v in fields.items()} | {b"prompt": INVALID_UTF8})
    with pytest.raises(ContractError, match="UTF-8"):
        JobRecord.from_fields(fields | {INVALID_UTF8: "1"})
    with pytest.raises(ContractError, match="UTF-8"):
        JobEvent.from_fields(EVENT | {"job": INVALID_UTF8})
    with pytest.raises(ContractError):
        JobRecord.from_json(INVALID_UTF8)


@pytest.mark.parametrize("field", ["id", "guild_id", "channel_id", "user_id"])
@pytest.mark.parametrize("suffix", ["\n", "\r\n", "\x00", " "])
def test_ids_ending_in_a_newline_are_refused(field: str, suffix: str) -> None:
    data = copy.deepcopy(GOLDEN)
    data[field] += suffix
    with pytest.raises(ContractError, match=field.replace("id", "") or "job id"):
        JobRecord.from_dict(data)


@pytest.mark.parametrize("field", ["job", "guild", "channel", "user"])
def test_event_ids_ending_in_a_newline_are_refused(field: str) -> None:
    with pytest.raises(ContractError, match="job event"):
        JobEvent.from_fields(EVENT | {field: EVENT[field] + "\n"})


def test_names_in_keys_ending_in_a_newline_are_refused() -> None:
    with pytest.raises(ContractError, match="namespace"):
        Keys("reelbot\n")
    with pytest.raises(ContractError, match="lane name"):
        check_lane_name("cogvideox-2b\n")


@pytest.mark.parametrize("data", ["null", "[]", "[1, 2]", '"text"', "3", "true"])
def test_event_data_that_is_not_an_object_is_a_contract_error(data: str) -> None:
    with pytest.raises(ContractError, match="data must be a JSON object"):
        JobEvent.from_fields(EVENT | {"data": data})


def test_an_event_without_data_has_empty_data() -> None:
    assert JobEvent.from_fields({k: v for k, v in EVENT.items() if k != "data"}).data == {}
    assert JobEvent.from_fields(EVENT | {"data": ""}).data == {}


@pytest.mark.parametrize(
    ("field", "value"),
    [("weight", math.nan), ("created_at", math.inf), ("started_at", -math.inf), ("weight", 10**400)],
    ids=["nan", "inf", "-inf", "10**400"],
)
def test_numbers_json_cannot_carry_are_refused(field: str, value: float) -> None:
    with pytest.raises(ContractError, match=field):
        JobRecord.from_dict(GOLDEN | {field: value})


@pytest.mark.parametrize("value", ["nan", "inf", "1e999"])
def test_hash_numbers_that_are_not_finite_are_refused(value: str) -> None:
    fields = JobRecord.from_json(GOLDEN_TEXT).to_fields()
    with pytest.raises(ContractError, match="created_at"):
        JobRecord.from_fields(fields | {"created_at": value})
    with pytest.raises(ContractError, match="at"):
        JobEvent.from_fields(EVENT | {"at": value})


def test_filter_frames_must_be_integers() -> None:
    for frames in ([1e300, 48], [0.5, 48], ["0", 48], [True, 48]):
        data = copy.deepcopy(GOLDEN)
        data["result"]["nsfw"]["frames"] = frames
        with pytest.raises(ContractError, match="frames"):
            JobRecord.from_dict(data).clip()


def test_a_version_that_is_true_is_not_version_1() -> None:
    with pytest.raises(ContractError, match="contract version True"):
        JobRecord.from_dict(GOLDEN | {"v": True})


def test_the_cancel_flag_in_a_hash_is_0_or_1() -> None:
    fields = JobRecord.from_json(GOLDEN_TEXT).to_fields()
    with pytest.raises(ContractError, match="cancel_requested"):
        JobRecord.from_fields(fields | {"cancel_requested": "yes"})
