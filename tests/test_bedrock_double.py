"""The Bedrock Runtime test double, driven by the real boto3 client over loopback.

boto3 is synchronous, so most tests run the double on its own loop in a thread
(``serve_in_thread``) and call boto3 directly; one async test shows the ``asyncio.to_thread`` way.
Credentials are dummies and the developer's ~/.aws files are hidden from botocore.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

# a plain Exception, not a BotoCoreError: ``except BotoCoreError`` does not catch it
from botocore.parsers import ResponseParserError

from tests.bedrock_double import BedrockDouble, serve_in_thread
from tests.bot_box import png as png_bytes

pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("no_aws_config")]

HAIKU = "anthropic.claude-3-haiku-20240307-v1:0"
HAIKU_PROFILE = "us.anthropic.claude-3-5-haiku-20241022-v1:0"
USER_TEXT = [{"role": "user", "content": [{"text": "a cat on a skateboard"}]}]


@pytest.fixture
def double() -> Iterator[BedrockDouble]:
    with serve_in_thread() as running:
        yield running


def client(double: BedrockDouble, **config: Any) -> Any:
    """A real bedrock-runtime client aimed at the double (standard retries unless told otherwise)."""
    config.setdefault("retries", {"mode": "standard", "max_attempts": 3})
    return boto3.client("bedrock-runtime", config=Config(**config), **double.client_kwargs())


# -- Converse ---------------------------------------------------------------------------------------


def test_text_prompt_gets_the_scripted_reply_and_the_system_prompt_is_recorded(double: BedrockDouble) -> None:
    double.reply("a ginger cat kickflips down a sunlit street, 35mm film", stop_reason="max_tokens")

    response = client(double).converse(
        modelId=HAIKU_PROFILE,
        messages=USER_TEXT,
        system=[{"text": "Rewrite the prompt for a video model."}],
        inferenceConfig={"maxTokens": 200, "temperature": 0.3, "topP": 0.9, "stopSequences": ["###"]},
    )

    assert response["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": "a ginger cat kickflips down a sunlit street, 35mm film"}],
    }
    assert response["stopReason"] == "max_tokens"
    usage = response["usage"]
    assert usage["totalTokens"] == usage["inputTokens"] + usage["outputTokens"]
    assert response["metrics"]["latencyMs"] >= 0
    [seen] = double.requests
    assert seen.operation == "Converse"
    assert seen.model_id == HAIKU_PROFILE
    assert seen.body["system"] == [{"text": "Rewrite the prompt for a video model."}]
    assert seen.body["inferenceConfig"]["maxTokens"] == 200
    assert seen.headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=test/")
    assert double.violations == [] and double.rejections == []


def test_image_block_arrives_as_the_original_png_bytes(double: BedrockDouble) -> None:
    png = png_bytes(3, 2)
    messages = [
        {
            "role": "user",
            "content": [
                {"text": "Describe this frame."},
                {"image": {"format": "png", "source": {"bytes": png}}},
            ],
        }
    ]

    response = client(double).converse(modelId=HAIKU, messages=messages)

    assert response["output"]["message"]["content"] == [{"text": "an enhanced prompt"}]
    [seen] = double.requests
    assert seen.images == [("png", png)]
    # botocore serialises the blob as a base64 string in the JSON body
    assert isinstance(seen.body["messages"][0]["content"][1]["image"]["source"]["bytes"], str)


def test_conversation_starting_with_assistant_is_a_validation_error(double: BedrockDouble) -> None:
    with pytest.raises(ClientError) as caught:
        client(double).converse(modelId=HAIKU, messages=[{"role": "assistant", "content": [{"text": "hi"}]}])

    assert caught.value.response["Error"]["Code"] == "ValidationException"
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "start with a user message" in caught.value.response["Error"]["Message"]
    assert len(double.rejections) == 1


@pytest.mark.parametrize("mode", ["standard", "adaptive"])
def test_throttling_is_retried_by_botocore_then_succeeds(double: BedrockDouble, mode: str) -> None:
    double.fail_next(429, "ThrottlingException", "Too many requests, please wait before trying again.")
    double.reply("after the throttle")

    response = client(double, retries={"mode": mode, "max_attempts": 3}).converse(
        modelId=HAIKU, messages=USER_TEXT
    )

    assert response["output"]["message"]["content"] == [{"text": "after the throttle"}]
    assert response["ResponseMetadata"]["RetryAttempts"] == 1
    assert len(double.requests) == 2


def test_access_denied_is_a_client_error_and_not_retried(double: BedrockDouble) -> None:
    double.fail_next(403, "AccessDeniedException", "You don't have access to the model.", times=3)
    bedrock = client(double)

    with pytest.raises(bedrock.exceptions.AccessDeniedException) as caught:
        bedrock.converse(modelId=HAIKU, messages=USER_TEXT)

    assert isinstance(caught.value, ClientError)
    assert caught.value.response["Error"] == {
        "Code": "AccessDeniedException",
        "Message": "You don't have access to the model.",
    }
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert len(double.requests) == 1


@pytest.mark.parametrize(
    ("status", "error_type"), [(500, "InternalServerException"), (503, "ServiceUnavailableException")]
)
def test_server_errors_are_retried_until_attempts_run_out(
    double: BedrockDouble, status: int, error_type: str
) -> None:
    # ``max_attempts`` counts retries: 2 means three requests in all
    double.fail_next(status, error_type, "try later", times=3)

    with pytest.raises(ClientError) as caught:
        client(double, retries={"mode": "standard", "max_attempts": 2}).converse(
            modelId=HAIKU, messages=USER_TEXT
        )

    assert caught.value.response["Error"]["Code"] == error_type
    assert caught.value.response["ResponseMetadata"]["RetryAttempts"] == 2
    assert len(double.requests) == 3


def test_a_reply_slower_than_the_read_timeout_raises_read_timeout(double: BedrockDouble) -> None:
    # botocore's ``max_attempts`` is the number of retries, and read timeouts are retried,
    # so with ``max_attempts: 1`` both the first try and its retry must be slow
    double.delay_next(5.0)
    double.delay_next(5.0)
    bedrock = client(double, read_timeout=0.5, connect_timeout=1, retries={"max_attempts": 1})

    with pytest.raises(ReadTimeoutError):
        bedrock.converse(modelId=HAIKU, messages=USER_TEXT)

    assert len(double.requests) == 2


def test_a_single_attempt_times_out_without_retrying(double: BedrockDouble) -> None:
    double.delay_next(5.0)
    bedrock = client(double, read_timeout=0.5, retries={"total_max_attempts": 1})

    with pytest.raises(ReadTimeoutError):
        bedrock.converse(modelId=HAIKU, messages=USER_TEXT)

    assert len(double.requests) == 1


def test_an_output_union_with_no_member_raises_response_parser_error(double: BedrockDouble) -> None:
    double.malformed_next("empty_output")

    with pytest.raises(ResponseParserError, match="ConverseOutput must have one and only one member set"):
        client(double).converse(modelId=HAIKU, messages=USER_TEXT)


@pytest.mark.parametrize("kind", ["not_json", "missing_output"])
def test_botocore_passes_a_200_without_output_through_silently(double: BedrockDouble, kind: str) -> None:
    # botocore neither rejects a 200 that is not JSON (it reads it as {"message": <text>}) nor checks
    # required response members: the caller must check that ``output`` is there
    double.malformed_next(kind)

    response = client(double).converse(modelId=HAIKU, messages=USER_TEXT)

    assert "output" not in response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


# -- ApplyGuardrail ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "outputs"),
    [("NONE", []), ("GUARDRAIL_INTERVENED", [{"text": "That prompt is not allowed."}])],
)
def test_apply_guardrail_verdicts_parse(double: BedrockDouble, action: str, outputs: list[Any]) -> None:
    double.verdict(action, "That prompt is not allowed.")

    response = client(double).apply_guardrail(
        guardrailIdentifier="gr1abc2def3",
        guardrailVersion="DRAFT",
        source="INPUT",
        content=[{"text": {"text": "a cat on a skateboard"}}],
    )

    assert response["action"] == action
    assert response["outputs"] == outputs
    assert isinstance(response["assessments"], list)
    assert response["usage"]["contentPolicyUnits"] == 1
    [seen] = double.requests
    assert seen.guardrail == ("gr1abc2def3", "DRAFT")
    assert seen.body == {"source": "INPUT", "content": [{"text": {"text": "a cat on a skateboard"}}]}


# -- the double itself ------------------------------------------------------------------------------


def test_unknown_paths_are_404_and_violations(double: BedrockDouble) -> None:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(double.endpoint_url + "/model/x/invoke-with-magic", data=b"{}", timeout=5)

    assert caught.value.code == 404
    assert double.violations == ["POST /model/x/invoke-with-magic: no such bedrock-runtime operation"]


async def test_async_callers_use_to_thread() -> None:
    async with BedrockDouble(default_text="from the event loop") as double:
        bedrock = client(double)

        response = await asyncio.to_thread(bedrock.converse, modelId=HAIKU, messages=USER_TEXT)

    assert response["output"]["message"]["content"] == [{"text": "from the event loop"}]
