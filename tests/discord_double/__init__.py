"""A Discord test double that the real discord.py client talks to over loopback.

One aiohttp server on 127.0.0.1 plays Discord's REST API (``/api/v10``), its gateway websocket
(``/gateway``) and its CDN (``/attachments/...``). Point discord.py at it with::

    discord.http.Route.BASE = double.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)

What is real: discord.py itself, unmodified, over real HTTP and websockets; every request body is
validated against Discord's OpenAPI 3.1 description (``spec.py``, with a short list of tolerated
gaps); Discord's rules that a server can see are enforced with Discord's error codes and recorded
in ``violations`` (3 s to the initial response, 15 min tokens, one initial response, upload limits
per boost tier, message/component/embed limits, nonce deduplication); rate-limit headers and 429s
shaped so discord.py's limiter handles them; gateway HELLO/IDENTIFY/READY/GUILD_CREATE/RESUME with
sequence numbers and replay; snowflakes from the (advanceable) clock.

What is simplified: one shard, JSON text frames only (no zlib/zstd transport compression), no
presences, voice, member chunking or permission overwrites; rate-limit buckets never run dry on
their own (use ``fail_next``); ephemeral messages are stored in the channel with flag 64; users
other than the bot act only through ``slash``/``click``/``submit_modal``.
"""

from .server import DiscordDouble
from .spec import TOLERATED_GAPS
from .world import MANAGE_GUILD, MANAGE_MESSAGES, Interaction, Message, RecordedRequest

__all__ = [
    "MANAGE_GUILD",
    "MANAGE_MESSAGES",
    "TOLERATED_GAPS",
    "DiscordDouble",
    "Interaction",
    "Message",
    "RecordedRequest",
]
