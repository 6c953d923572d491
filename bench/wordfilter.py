"""The prompt word filter: what one screen of a prompt costs on the event loop, before and after
compiling each guild's list once.

    python bench/wordfilter.py                  # 3 interleaved repeats, Markdown tables
    python bench/wordfilter.py --tiny           # a few seconds, for the smoke test

Each call is what ``Moderation.__call__`` does with the word list for one prompt:

- **before**: the matcher of commit ``d71b3f4`` (read from git, run in this process), which
  builds the default list plus the guild's additions for every call
  (``words.extended(block, review, allow).check(text)``);
- **after**: the current one, ``words.for_guild(block, review, allow).check(text)``, the guild's
  compiled list found in the cache by its content, as on every call but the first after a change.
- **compile**: the first call after a ``/settings words`` change, ``words.extended(...)`` then the
  check, timed apart.

Two lists: the default one alone, and the largest a guild may add (3 lists of ``MAX_WORDS`` = 200
entries of 100 characters: phrases of random letters, every tenth a prefix entry). Prompts are
2,000 characters of ordinary video prompts (subjects, actions, settings and styles drawn at
random, 50 different ones, cycled), none of which matches. Three harder texts are timed for the
current code alone: a 2,000-character run of letters spelled out one by one, 2,000 characters of
one-to-three-letter words (the filter puts split words back together), and leetspeak with a 1
in every word (each 1 is read as i and as l). Cases are interleaved in each repeat and the median
over repeats of each figure is reported, after one untimed call of each case.
"""

from __future__ import annotations

import sys
from pathlib import Path

if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parents[1])

import argparse
import json
import os
import random
import statistics
import string
import subprocess
import time
import tracemalloc
import types
from collections.abc import Callable
from typing import Any

from bot import wordfilter
from bot.modconfig import DEFAULT_BLOCK, DEFAULT_REVIEW
from bot.wordfilter import MAX_WORDS, WordList

ROOT = Path(__file__).resolve().parents[1]
#: the last commit with the matcher that rebuilt the list on every call
BASELINE = "d71b3f4"
PROMPT_CHARS = 2_000
ENTRY_CHARS = 100

SUBJECTS = [
    "a red fox", "an old fisherman", "two astronauts", "a street musician", "a herd of elephants",
    "a robot chef", "a jazz pianist", "a hummingbird", "a child with a kite", "a lighthouse keeper",
]  # fmt: skip
ACTIONS = [
    "walks slowly through", "dances in", "rests quietly in", "paints a mural in", "runs across",
    "skates through", "looks out of a window in", "reads a book in", "rides a bike in",
]  # fmt: skip
SETTINGS = [
    "a snowy forest at dawn", "a neon-lit Tokyo alley", "a sunflower field", "a busy Paris café",
    "an abandoned subway station", "a coral reef", "a rainy London street", "a medieval castle",
]  # fmt: skip
STYLES = [
    "cinematic lighting", "shot on 35mm film", "slow motion", "drone shot", "watercolor style",
    "4k, highly detailed", "handheld camera, shallow depth of field",
]  # fmt: skip


def prompt(rng: random.Random) -> str:
    """About ``PROMPT_CHARS`` characters of ordinary video prompt."""
    sentences = []
    while sum(len(s) + 1 for s in sentences) < PROMPT_CHARS:
        sentences.append(
            f"{rng.choice(SUBJECTS).capitalize()} {rng.choice(ACTIONS)} {rng.choice(SETTINGS)}, "
            f"{rng.choice(STYLES)}."
        )
    return " ".join(sentences)[:PROMPT_CHARS]


def hard_texts(rng: random.Random) -> dict[str, str]:
    """Texts that take the filter's slower paths."""
    letters = " ".join(rng.choice(string.ascii_lowercase) for _ in range(PROMPT_CHARS // 2))
    short = " ".join(
        rng.choice(["a", "be", "he", "ad", "in", "on", "the", "is", "pen", "at"]) for _ in range(700)
    )
    leet = " ".join(
        rng.choice(["1n", "th1s", "f1lm", "a", "g1rl", "w1th", "k1te", "h1ll"]) for _ in range(500)
    )
    return {
        "spelled out": letters[:PROMPT_CHARS],
        "short words": short[:PROMPT_CHARS],
        "leetspeak": leet[:PROMPT_CHARS],
    }


def entry(rng: random.Random, prefix: bool) -> str:
    """A guild's entry of ``ENTRY_CHARS`` characters: a phrase of random letters."""
    words: list[str] = []
    while sum(len(w) + 1 for w in words) < ENTRY_CHARS:
        words.append("".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(3, 10))))
    text = " ".join(words)[: ENTRY_CHARS - 1].rstrip()
    return text + "*" if prefix else text


def largest_lists(rng: random.Random) -> tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]:
    block, review, allow = (tuple(entry(rng, i % 10 == 0) for i in range(MAX_WORDS)) for _ in range(3))
    return block, review, allow


def baseline() -> types.ModuleType | None:
    """``bot/wordfilter.py`` as it was at ``BASELINE``, or None when git cannot show it."""
    try:
        source = subprocess.run(
            ["git", "-C", str(ROOT), "show", f"{BASELINE}:bot/wordfilter.py"],
            capture_output=True, text=True, check=True, timeout=30,
        ).stdout  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    module = types.ModuleType("wordfilter_before")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"bot/wordfilter.py@{BASELINE}", "exec"), module.__dict__)
    return module


def timed(call: Callable[[str], object], texts: list[str], calls: int) -> list[float]:
    """Seconds of each of ``calls`` calls, cycling through ``texts``."""
    spent = []
    for n in range(calls):
        text = texts[n % len(texts)]
        start = time.perf_counter()
        call(text)
        spent.append(time.perf_counter() - start)
    return spent


def quantiles(spent: list[float]) -> dict[str, float]:
    ordered = sorted(spent)
    return {
        "p50_ms": statistics.median(ordered) * 1e3,
        "p99_ms": ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))] * 1e3,
    }


def cases(args: argparse.Namespace, before: types.ModuleType | None) -> list[dict[str, Any]]:
    """Every (list, text, code) case with its callable and number of calls."""
    rng = random.Random(7)
    prompts = [prompt(rng) for _ in range(50)]
    lists = {"default": ((), (), ()), "largest": largest_lists(rng)}
    now = WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW)
    then = before.WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW) if before is not None else None
    found: list[dict[str, Any]] = []
    for name, guild in lists.items():
        now.for_guild(*guild)  # compiled once, as after the first call
        found.append(dict(list=name, text="prompt", code="after", texts=prompts, calls=args.calls,
                          call=lambda text, g=guild: now.for_guild(*g).check(text)))  # fmt: skip
        found.append(dict(list=name, text="prompt", code="compile", texts=prompts, calls=args.compiles,
                          call=lambda text, g=guild: now.extended(*g).check(text)))  # fmt: skip
        if then is not None:
            calls = args.before_calls if name == "largest" else args.calls // 10
            found.append(dict(list=name, text="prompt", code="before", texts=prompts, calls=max(calls, 2),
                              call=lambda text, g=guild: then.extended(*g).check(text)))  # fmt: skip
        for hard, text in hard_texts(rng).items():
            found.append(dict(list=name, text=hard, code="after", texts=[text], calls=args.calls // 4,
                              call=lambda t, g=guild: now.for_guild(*g).check(t)))  # fmt: skip
    assert not any(now.for_guild(*lists["default"]).check(p) for p in prompts), "a prompt matched"
    return found


def compiled_size(guild: tuple[tuple[str, ...], ...]) -> int:
    """Bytes one guild's compiled largest lists hold."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    kept = WordList.build(DEFAULT_BLOCK, DEFAULT_REVIEW).extended(*guild)
    size = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    del kept
    return size


def run(args: argparse.Namespace) -> dict[str, Any]:
    before = baseline()
    found = cases(args, before)
    runs: dict[int, list[dict[str, float]]] = {i: [] for i in range(len(found))}
    for case in found:  # one untimed call each: the first meeting of a character fills a table
        case["call"](case["texts"][0])
    for repeat in range(args.repeats):
        order = list(range(len(found)))
        random.Random(repeat).shuffle(order)
        for i in order:
            case = found[i]
            runs[i].append(quantiles(timed(case["call"], case["texts"], case["calls"])))
    rows = []
    for i, case in enumerate(found):
        rows.append({
            "list": case["list"], "text": case["text"], "code": case["code"], "calls": case["calls"],
            "median_p50_ms": statistics.median(r["p50_ms"] for r in runs[i]),
            "median_p99_ms": statistics.median(r["p99_ms"] for r in runs[i]),
            "runs": runs[i],
        })  # fmt: skip
    return {
        "baseline": BASELINE if before is not None else None,
        "rows": rows,
        "ratios": ratios(rows),
        "compiled_bytes_largest": compiled_size(largest_lists(random.Random(7))),
        "guild_cache": [wordfilter.GUILD_CACHE, wordfilter.GUILD_CACHE_ENTRIES],
    }


def ratios(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Before over after, of the medians, for each list."""
    by = {(r["list"], r["text"], r["code"]): r for r in rows}
    found = []
    for (name, text, code), row in by.items():
        if code == "before" and (name, text, "after") in by:
            after = by[(name, text, "after")]
            found.append({
                "list": name, "p50_ratio": row["median_p50_ms"] / after["median_p50_ms"],
                "p99_ratio": row["median_p99_ms"] / after["median_p99_ms"],
            })  # fmt: skip
    return found


def target(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The issue's targets: p99 under 5 ms (largest lists) and under 1 ms (default list) for prompts."""
    p99 = {r["list"]: r["median_p99_ms"] for r in rows if r["code"] == "after" and r["text"] == "prompt"}
    met = {"largest": p99["largest"] < 5, "default": p99["default"] < 1}
    verdict = (
        f"Target (p99 < 5 ms against the largest lists): {'met' if met['largest'] else 'not met'} "
        f"({p99['largest']:.3f} ms); target (p99 < 1 ms against the default list): "
        f"{'met' if met['default'] else 'not met'} ({p99['default']:.3f} ms)"
    )
    return {"met": all(met.values()), "each": met, "verdict": verdict}


def report(results: dict[str, Any]) -> str:
    lines = [
        "| list | text | code | calls per repeat | p50 ms | p99 ms |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for r in results["rows"]:
        lines.append(
            f"| {r['list']} | {r['text']} | {r['code']} | {r['calls']} | "
            f"{r['median_p50_ms']:.3f} | {r['median_p99_ms']:.3f} |"
        )
    if results["ratios"]:
        lines += ["", "| list | before / after, p50 | before / after, p99 |", "| --- | --- | --- |"]
        lines += [
            f"| {r['list']} | {r['p50_ratio']:,.0f}x | {r['p99_ratio']:,.0f}x |" for r in results["ratios"]
        ]
    else:
        lines += ["", f"(no baseline: git could not show {BASELINE}:bot/wordfilter.py)"]
    guilds, entries = results["guild_cache"]
    size = results["compiled_bytes_largest"] / 1024
    lines += ["", f"One guild's largest lists, compiled: {size:,.0f} KiB (the cache keeps {guilds} guilds, "
              f"{entries:,} entries at most)"]  # fmt: skip
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--calls", type=int, default=2_000, help="calls per case and repeat (after)")
    parser.add_argument("--compiles", type=int, default=20, help="calls per repeat that compile first")
    parser.add_argument("--before-calls", type=int, default=10, help="calls of the old code, largest lists")
    parser.add_argument("--tiny", action="store_true", help="a few calls of each, for the smoke test")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    if args.tiny:
        args.repeats, args.calls, args.compiles, args.before_calls = 1, 40, 2, 2
    results = run(args)
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    results["target"] = target(results["rows"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2))
    print(report(results))
    print()
    print(results["target"]["verdict"])


if __name__ == "__main__":
    main()
