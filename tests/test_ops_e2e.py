"""Operating Reelbot: the bot's metrics and health endpoint, the queue depth in CloudWatch (real boto3
against moto's server), /status, and /queue pause, drain and resume through the Discord double."""

from __future__ import annotations

import asyncio
import dataclasses
import socket
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import boto3
import pytest
from moto.server import ThreadedMotoServer

from bot.observability import BotMetrics, Observer
from inference.contract import JobStatus, ModelId
from inference.jobqueue import JobQueue
from tests.bot_box import Box, reply_text
from tests.conftest import make_job

pytestmark = pytest.mark.timeout(120)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def cloudwatch_endpoint() -> Iterator[str]:
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


async def restart_with(box: Box, **settings: Any) -> None:
    await box.stop_bot()
    box.settings = dataclasses.replace(box.settings, **settings)
    await box.start_bot()


async def answered(box: Box, interaction: Any) -> str:
    await box.double.wait_for(lambda: bool(interaction.followups), 20)
    return reply_text(interaction)


async def test_metrics_count_commands_refusals_and_deliveries_and_health_tells_the_truth(box: Box) -> None:
    port = free_port()
    await restart_with(box, metrics_port=port)
    made = await box.video(prompt="a red kite")
    job_id = (await answered(box, made)).split("`")[1]
    await box.clip_message(job_id, 60)
    refused = await box.video(prompt="a red kite", model="no-such-model")
    await answered(box, refused)

    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/healthz") as reply:
            healthy = (reply.status, await reply.json())
        async with http.get(f"http://127.0.0.1:{port}/metrics") as reply:
            metrics = await reply.text()
        await box.stop_bot()
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(f"http://127.0.0.1:{port}/healthz")

    assert healthy == (200, {"status": "ok", "problems": []})
    assert 'reelbot_bot_commands_total{command="video"} 2.0' in metrics
    assert 'reelbot_bot_refusals_total{reason="model"} 1.0' in metrics
    assert 'reelbot_bot_deliveries_total{outcome="posted"} 1.0' in metrics
    assert 'reelbot_bot_workers{lane="cogvideox-5b"} 1.0' in metrics


async def test_queue_gauges_show_depth_per_lane_and_guild_and_the_oldest_wait(queue: JobQueue) -> None:
    for user in ("1", "2", "3"):
        await queue.enqueue(make_job("101", user, model=ModelId.COGVIDEOX_2B))
    await queue.enqueue(make_job("102", "9", model=ModelId.COGVIDEOX_2B))
    metrics = BotMetrics()
    observer = Observer(queue, metrics, lambda: True, port=0)
    await asyncio.sleep(1.1)

    total = await observer.sample()
    text = metrics.render().decode()

    assert total == 4
    assert 'reelbot_bot_queue_depth{guild="101",lane="cogvideox-2b"} 3.0' in text
    assert 'reelbot_bot_queue_depth{guild="102",lane="cogvideox-2b"} 1.0' in text
    oldest = next(
        line
        for line in text.splitlines()
        if line.startswith('reelbot_bot_queue_oldest_wait_seconds{lane="cogvideox-2b"}')
    )
    assert 1.0 <= float(oldest.split()[-1]) < 30


async def test_the_queue_depth_is_published_to_cloudwatch(queue: JobQueue, cloudwatch_endpoint: str) -> None:
    await queue.enqueue(make_job("101", "1"))
    await queue.enqueue(make_job("101", "2"))
    client = boto3.client(
        "cloudwatch",
        endpoint_url=cloudwatch_endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    observer = Observer(
        queue, BotMetrics(), lambda: True, port=0, cloudwatch_namespace="Reelbot", cloudwatch=client
    )

    await observer.publish()

    running = client.list_metrics(Namespace="Reelbot", MetricName="RunningJobs")["Metrics"]
    assert running and running[0]["Dimensions"] == [{"Name": "Deployment", "Value": queue.settings.namespace}]
    listed = client.list_metrics(Namespace="Reelbot", MetricName="QueueDepth")["Metrics"]
    assert listed[0]["Dimensions"] == [{"Name": "Deployment", "Value": queue.settings.namespace}]
    data = client.get_metric_data(
        MetricDataQueries=[
            {
                "Id": "depth",
                "MetricStat": {"Metric": listed[0], "Period": 60, "Stat": "Maximum"},
            }
        ],
        StartTime=datetime.now(UTC) - timedelta(minutes=5),
        EndTime=datetime.now(UTC) + timedelta(minutes=5),
    )
    assert data["MetricDataResults"][0]["Values"] == [2.0]


async def test_status_shows_workers_models_depth_and_oldest_wait_to_admins(box: Box) -> None:
    shown = await box.ask(box.admin, "status")
    refused = await box.ask(box.member, "status")

    assert "Models loaded: `cogvideox-5b`, `cogvideox-5b-i2v`" in shown
    assert "`cogvideox-5b`: 1 worker(s), 0 waiting" in shown and "Queue: running." in shown
    assert "Manage Server" in refused


async def test_operators_pause_drain_and_resume_and_members_are_told_why(box: Box) -> None:
    await restart_with(box, operator_ids=(str(box.moderator),))
    refused = await box.ask(box.admin, "queue pause", reason="upgrading the GPU driver")
    assert "for this Reelbot's operators" in refused

    paused = await box.ask(box.moderator, "queue pause", reason="upgrading the GPU driver")
    asked = await box.video(prompt="a red kite")
    told = await answered(box, asked)
    waiting = await box.queue.enqueue(make_job(str(box.guild), "77", model=ModelId.COGVIDEOX_5B))
    await asyncio.sleep(2.5)  # a paused worker starts nothing
    still = (await box.queue.get(waiting.job.id)).status
    listing = await box.ask(box.member, "queue show")
    drained = await box.ask(box.moderator, "queue drain", reason="moving to a new box")
    for _ in range(60):  # a draining worker empties the queue
        if (await box.queue.get(waiting.job.id)).status is JobStatus.SUCCEEDED:
            break
        await asyncio.sleep(1)
    during_drain = await box.video(prompt="a blue kite")
    drain_told = await answered(box, during_drain)
    resumed = await box.ask(box.moderator, "queue resume")
    again = await box.video(prompt="a green kite")

    assert "Paused (upgrading the GPU driver)" in paused
    assert "under maintenance: upgrading the GPU driver" in told and "Nothing was queued" in told
    assert still is JobStatus.QUEUED
    assert "paused for maintenance: upgrading the GPU driver" in listing
    assert "Draining (moving to a new box)" in drained
    assert (await box.queue.get(waiting.job.id)).status is JobStatus.SUCCEEDED
    assert "moving to a new box" in drain_told
    assert "runs again" in resumed and "Queued `" in await answered(box, again)
