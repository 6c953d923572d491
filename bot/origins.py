"""Web origins (``scheme://host[:port]``), parsed one way at start-up and at request time.

``DISCORD_CDN_ORIGINS`` names the only places attachments are fetched from. It is checked
when the bot starts with the same parser that checks each attachment's URL, so a setting the
bot would refuse at request time (a user part, a path, a query) stops it at start-up instead,
and case and default ports are normalised the same way in both places.
"""

from __future__ import annotations

from yarl import URL

DEFAULT_PORTS = {"http": 80, "https": 443}

Origin = tuple[str, str, int]


def origin_of(url: URL) -> Origin | None:
    """``(scheme, host, port)`` of an absolute web URL with no user part, the default port
    filled in; None for anything else."""
    scheme = (url.scheme or "").lower()
    if not url.absolute or scheme not in DEFAULT_PORTS or not url.host or url.user is not None:
        return None
    if url.password is not None:
        return None
    return scheme, url.host.lower(), url.explicit_port or DEFAULT_PORTS[scheme]


def parse_origin(text: str) -> Origin:
    """An origin setting, parsed.

    Raises:
        ValueError: it is not ``scheme://host[:port]`` (http or https, nothing after the host).
    """
    try:
        url = URL(text.strip())
    except ValueError:
        url = None
    found = origin_of(url) if url is not None else None
    extra = url is not None and (url.path not in ("", "/") or url.query_string or url.fragment)
    if found is None or extra:
        raise ValueError(f"{text!r} is not an origin like https://cdn.discordapp.com (scheme://host[:port])")
    return found


def origin_text(origin: Origin) -> str:
    """``https://host`` (the port only when it is not the scheme's default)."""
    scheme, host, port = origin
    return f"{scheme}://{host}" if port == DEFAULT_PORTS[scheme] else f"{scheme}://{host}:{port}"
