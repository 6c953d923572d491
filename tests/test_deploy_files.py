"""Deployment files, checked statically (no Docker engine here).

docker-compose.yml is validated against the Compose Specification's JSON schema (vendored in
tests/data, see its README) and checked for what Reelbot relies on; the Dockerfiles are linted
for the rules hadolint would apply and for what each image must install; .env.example (with
.env.bot.example and .env.worker.example, the secrets of one service) must name every variable
the code reads, with the code's defaults, and each service sees only its own secrets.
"""

from __future__ import annotations

import ast
import fnmatch
import itertools
import json
import pkgutil
import re
import sys
import tomllib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from bot.guildconfig import ENV_NAMES as LIMIT_ENV_NAMES
from bot.settings import BotSettings
from inference.jobqueue.connection import RECOMMENDED
from inference.jobqueue.localredis import DURABLE_ARGS
from inference.jobqueue.settings import QueueSettings
from inference.settings import WorkerSettings

ROOT = Path(__file__).parents[1]
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"
WORKERS = ("worker", "worker-cpu")
APP_SERVICES = ("bot", *WORKERS)
#: what the worker's SIGTERM handling may take: REELBOT_GRACE_SECONDS, plus the margin
#: `reelbot run` gives its own worker (bot/runner.py) to hand the job back and exit
GRACE_SECONDS = WorkerSettings().grace_seconds
EXIT_MARGIN_SECONDS = 15


def redis_conf() -> dict[str, str]:
    settings = {}
    for line in (ROOT / "infra" / "redis.conf").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.strip().partition(" ")
            settings[name] = value.strip()
    return settings


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def service(name: str) -> dict[str, Any]:
    found: dict[str, Any] = compose()["services"][name]
    return found


def environment(svc: Mapping[str, Any]) -> dict[str, str]:
    """A service's ``environment``, whether written as a mapping or as a list of NAME=value."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        return dict(item.partition("=")[::2] for item in env)
    return {name: "" if value is None else str(value) for name, value in env.items()}


def seconds(duration: str) -> float:
    """A Compose duration ("90s", "1m30s", "20m") in seconds."""
    units = {"h": 3600, "m": 60, "s": 1, "ms": 0.001, "us": 1e-6}
    parts = re.findall(r"(\d+(?:\.\d+)?)(ms|us|h|m|s)", duration)
    assert parts and "".join(n + u for n, u in parts) == duration, f"not a duration: {duration!r}"
    return sum(float(n) * units[u] for n, u in parts)


def healthcheck_url(svc: Mapping[str, Any]) -> str:
    """The URL a service's health check fetches with python (which both images have)."""
    test = svc["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"], test
    urls = re.findall(r"http://[^'\"]+", test[3])
    assert len(urls) == 1, test
    return str(urls[0])


# ------------------------------------------------------------------------------- Redis


def test_redis_conf_has_the_settings_the_start_up_check_wants() -> None:
    conf = redis_conf()
    for name, wanted in RECOMMENDED.items():
        assert conf.get(name) == wanted, name


def test_the_local_server_of_reelbot_run_uses_the_same_settings() -> None:
    pairs = dict(zip(DURABLE_ARGS[::2], DURABLE_ARGS[1::2], strict=True))
    for name, wanted in RECOMMENDED.items():
        assert pairs[f"--{name}"] == wanted


def test_compose_runs_redis_with_that_file_a_volume_and_a_health_check() -> None:
    file = compose()
    redis = file["services"]["redis"]
    mounted = {v.split(":")[0]: v.split(":")[1] for v in redis["volumes"]}
    conf_in_container = mounted["./infra/redis.conf"]
    assert conf_in_container in redis["command"]
    assert any(v.startswith("redis-data:") for v in redis["volumes"])
    assert "redis-data" in file["volumes"]
    assert redis["restart"] == "unless-stopped"
    assert (ROOT / "infra" / "redis.conf").is_file()


def test_redis_requires_the_password_from_env_and_its_health_check_uses_it() -> None:
    redis = service("redis")
    command = redis["command"]
    password = command[command.index("--requirepass") + 1]
    assert password.startswith("${REDIS_PASSWORD"), password
    # valkey-cli reads REDISCLI_AUTH, so the check authenticates without -a on its command line
    assert environment(redis)["REDISCLI_AUTH"] == password
    test = redis["healthcheck"]["test"]
    assert test[0] == "CMD-SHELL" and "valkey-cli ping" in test[1] and "PONG" in test[1], test
    for name in APP_SERVICES:
        url = environment(service(name))["REDIS_URL"]
        assert url == f"redis://:{password}@redis:6379/0", name


def test_the_redis_image_is_pinned_to_a_patch_release() -> None:
    assert pinned(service("redis")["image"]), service("redis")["image"]


# ----------------------------------------------------------------------------- compose


def test_compose_file_is_valid_against_the_compose_specification() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert not errors, "\n".join(errors)


def test_the_vendored_schema_knows_what_the_file_uses_and_rejects_a_typo() -> None:
    schema = json.loads(COMPOSE_SCHEMA.read_text())
    defs = schema["$defs"]
    assert "name" in schema["properties"]
    service_keys = {
        k for part in ("service", "container_spec", "workload_spec") for k in defs[part]["properties"]
    }
    assert {"profiles", "depends_on", "stop_grace_period", "healthcheck"} <= service_keys
    assert (
        "devices" in defs["deployment"]["properties"]["resources"]["properties"]["reservations"]["properties"]
    )
    assert "service_healthy" in json.dumps(defs)
    typo = compose()
    typo["services"]["bot"]["restrat"] = "always"
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(typo))


def test_the_worker_reserves_an_nvidia_gpu_and_the_cpu_worker_none() -> None:
    devices = service("worker")["deploy"]["resources"]["reservations"]["devices"]
    assert len(devices) == 1
    assert devices[0]["driver"] == "nvidia"
    assert "gpu" in devices[0]["capabilities"]
    assert devices[0].get("count") or devices[0].get("device_ids")
    cpu = service("worker-cpu")
    assert "deploy" not in cpu and "gpus" not in cpu and "runtime" not in cpu
    assert environment(cpu)["REELBOT_DEVICE"] == "cpu"


def test_profiles_keep_the_gpu_and_cpu_workers_apart() -> None:
    assert service("worker")["profiles"] == ["gpu"]
    assert service("worker-cpu")["profiles"] == ["cpu"]
    # a plain `docker compose up` starts Redis and the bot
    assert "profiles" not in service("redis") and "profiles" not in service("bot")


def test_the_cpu_worker_writes_the_tiny_model_then_serves_it_on_the_cpu_build() -> None:
    cpu = service("worker-cpu")
    script = cpu["command"][-1]
    assert cpu["command"][:2] == ["sh", "-c"]
    assert re.fullmatch(r"reelbot make-tiny-model (\S+) && exec reelbot worker", script), script
    model_dir = script.split()[2]
    assert environment(cpu)["REELBOT_MODELS"] == model_dir
    assert cpu["build"]["args"]["TORCH_INDEX"].endswith("/whl/cpu")
    assert cpu["build"]["dockerfile"] == service("worker")["build"]["dockerfile"]


def test_the_hugging_face_cache_is_a_named_volume_and_hf_home_points_at_it() -> None:
    worker = service("worker")
    mounts = dict(v.split(":")[:2] for v in worker["volumes"])
    hf_home = environment(worker)["HF_HOME"]
    assert hf_home in mounts.values()
    volume = next(name for name, path in mounts.items() if path == hf_home)
    assert volume in compose()["volumes"], "a named volume, so the weights survive the container"
    assert dockerfile_env("worker")["HF_HOME"] == hf_home


def test_app_services_run_reelbot_from_their_dockerfiles() -> None:
    assert service("bot")["command"] == ["reelbot", "bot"]
    assert service("worker")["command"] == ["reelbot", "worker"]
    for name, dockerfile in {"bot": "bot", "worker": "worker", "worker-cpu": "worker"}.items():
        build = service(name)["build"]
        assert build["context"] == "."
        assert build["dockerfile"] == f"infra/Dockerfile.{dockerfile}"
        assert (ROOT / build["dockerfile"]).is_file()


def test_every_service_restarts_and_waits_for_a_healthy_redis() -> None:
    for name in ("redis", *APP_SERVICES):
        assert service(name)["restart"] == "unless-stopped", name
    for name in APP_SERVICES:
        assert service(name)["depends_on"]["redis"]["condition"] == "service_healthy", name
        assert env_files(service(name))[0] == ".env", name


def test_health_checks_hit_the_metrics_port_each_process_listens_on() -> None:
    ports = {"bot": ("REELBOT_BOT_METRICS_HOST", "REELBOT_BOT_METRICS_PORT", 9109)}
    ports |= {name: ("REELBOT_METRICS_HOST", "REELBOT_METRICS_PORT", 9108) for name in WORKERS}
    for name, (host_var, port_var, port) in ports.items():
        svc = service(name)
        env = environment(svc)
        assert env[host_var] == "0.0.0.0", f"{name}: the metrics server must listen beyond loopback"
        assert env[port_var] == str(port), name
        assert healthcheck_url(svc) == f"http://127.0.0.1:{port}/healthz", name
        for field in ("interval", "timeout", "start_period"):
            seconds(svc["healthcheck"][field])


def test_metrics_ports_are_published_on_loopback_only() -> None:
    assert service("bot")["ports"] == ["127.0.0.1:9109:9109"]
    assert service("worker")["ports"] == ["127.0.0.1:9108:9108"]
    for name, svc in compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} beyond this host"


def test_workers_get_longer_to_stop_than_their_grace_period() -> None:
    for name in WORKERS:
        stop = seconds(service(name)["stop_grace_period"])
        assert stop >= GRACE_SECONDS + EXIT_MARGIN_SECONDS, name


# ------------------------------------------------------------ each service's own secrets

#: the filled-in env files compose reads, and the template each is copied from
ENV_TEMPLATES = {".env": ".env.example", ".env.bot": ".env.bot.example", ".env.worker": ".env.worker.example"}
#: secrets only the bot needs: Discord, and AWS (Bedrock, the guardrail, CloudWatch)
BOT_SECRETS = {"DISCORD_TOKEN", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}
#: secrets only the workers need: gated weights
WORKER_SECRETS = {"HF_TOKEN"}


def env_files(svc: Mapping[str, Any]) -> list[str]:
    """The paths of a service's ``env_file`` (a path, or a list of paths or ``{path, required}``)."""
    files = svc.get("env_file") or []
    if not isinstance(files, list):
        files = [files]
    return [f if isinstance(f, str) else f["path"] for f in files]


def template(env_file: str) -> dict[str, str]:
    """NAME -> value of every variable (commented or not) in the template of ``env_file``."""
    found: dict[str, str] = {}
    for line in (ROOT / ENV_TEMPLATES[env_file]).read_text().splitlines():
        if match := ENV_LINE.match(line):
            assert match.group(1) not in found, f"{match.group(1)} twice in {ENV_TEMPLATES[env_file]}"
            found[match.group(1)] = match.group(2)
    return found


def visible(name: str) -> set[str]:
    """The variables a service can see: what its env files may hold (their templates name them)
    and what its ``environment`` sets, less what ``environment`` blanks (it wins over env_file)."""
    svc = service(name)
    env = environment(svc)
    names = {n for f in env_files(svc) for n in template(f)} | {k for k, v in env.items() if v}
    return names - {k for k, v in env.items() if v == ""}


def test_each_service_sees_only_its_own_secrets() -> None:
    assert visible("bot") >= BOT_SECRETS, "the bot's own secrets reach it"
    assert not visible("bot") & WORKER_SECRETS, "the bot never sees HF_TOKEN"
    for name in WORKERS:
        assert visible(name) >= WORKER_SECRETS, name
        assert not visible(name) & BOT_SECRETS, f"{name} sees the bot's secrets"
        assert ".env.bot" not in env_files(service(name)), name
    assert ".env.worker" not in env_files(service("bot"))


def test_another_services_secrets_are_blanked_even_if_an_old_env_file_holds_them() -> None:
    # before the split, .env held every secret and went to every service
    assert environment(service("bot"))["HF_TOKEN"] == ""
    for name in WORKERS:
        env = environment(service(name))
        assert {k: env.get(k) for k in BOT_SECRETS} == dict.fromkeys(BOT_SECRETS, ""), name


def test_the_shared_env_file_holds_no_secret_but_the_redis_password() -> None:
    shared = template(".env")
    assert {n for n in shared if SECRET_NAME.search(n)} == {"REDIS_PASSWORD"}
    assert not set(shared) & (BOT_SECRETS | WORKER_SECRETS | {"AWS_REGION", "AWS_PROFILE"})
    # and each secret is in exactly one template, the one of the service that needs it
    assert set(template(".env.bot")) >= BOT_SECRETS
    assert set(template(".env.worker")) == WORKER_SECRETS


def test_the_filled_in_env_files_never_reach_an_image() -> None:
    patterns = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    used = {f for name in APP_SERVICES for f in env_files(service(name))}
    assert used == set(ENV_TEMPLATES)
    for path in used:
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} is not in .dockerignore"


# --------------------------------------------------------------------------- secrets

#: names whose values are secrets: one of these words in the name (DISCORD_TOKEN, REDISCLI_AUTH)
SECRET_NAME = re.compile(
    r"(?:^|_)(?:TOKEN|PASSWORD|PASSWD|SECRET|AUTH|CREDENTIALS?|(?:ACCESS|PRIVATE|API)_KEY)(?:_|$)"
)
#: values that are secrets whatever they are called
SECRET_VALUE = re.compile(
    r"[\w-]{23,28}\.[\w-]{6,7}\.[\w-]{27,}"  # a Discord bot token
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # an AWS access key id
    r"|\bhf_[A-Za-z0-9]{30,}"  # a Hugging Face token
    r"|://[^/\s:@]*:(?!\$\{)[^@\s]+@"  # a URL with a literal password
    r"|\b[A-Za-z0-9+/=_-]{40,}\b"  # anything long and random-looking
)
INTERPOLATION = re.compile(r"\$\{[A-Z_][A-Z0-9_]*(?:(?::?[-?+])[^}]*)?\}")
#: command-line options whose next argument is a secret
SECRET_FLAGS = ("--requirepass", "--masterauth", "-a", "--pass", "--password", "--token")


def strings(node: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string in a parsed YAML document, with where it is."""
    if isinstance(node, Mapping):
        for key, value in node.items():
            yield from strings(value, f"{path}/{key}")
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from strings(value, f"{path}/{i}")
    elif node is not None:
        yield path, str(node)


def inline_secrets(file: Mapping[str, Any]) -> list[str]:
    """Where a compose file holds a secret literally instead of taking it from the environment."""
    found = []
    for path, text in strings(file):
        if SECRET_VALUE.search(INTERPOLATION.sub("", text)):
            found.append(f"{path}: looks like a secret")
    for name, svc in file.get("services", {}).items():
        for key, value in environment(svc).items():
            if SECRET_NAME.search(key.upper()) and value and not INTERPOLATION.fullmatch(value):
                found.append(f"{name}: {key} is set inline; use ${{{key}}} or env_file")
        command = svc.get("command") or []
        for flag, value in itertools.pairwise(command):
            if flag in SECRET_FLAGS and not INTERPOLATION.fullmatch(str(value)):
                found.append(f"{name}: the argument of {flag} is inline")
        for key in svc.get("build", {}).get("args") or {}:
            if SECRET_NAME.search(key.upper()):
                found.append(f"{name}: build arg {key} would be kept in the image's history")
    return found


def test_no_secret_is_written_in_the_compose_file() -> None:
    assert inline_secrets(compose()) == []


# Made up at run time, so that no secret scanner mistakes this file for a leak.
FAKE_DISCORD_TOKEN = ".".join(["M" + "Tk" * 12, "Gx" * 3, "q" * 38])
FAKE_AWS_KEY_ID = "AKIA" + "Q" * 16


@pytest.mark.parametrize(
    ("where", "value"),
    [
        ("environment", {"DISCORD_TOKEN": FAKE_DISCORD_TOKEN}),
        ("environment", {"BOT_SETTINGS": f"--token {FAKE_DISCORD_TOKEN}"}),
        ("environment", {"REDIS_PASSWORD": "hunter2"}),
        ("environment", [f"AWS_SECRET_ACCESS_KEY={'k' * 40}"]),
        ("environment", {"REDIS_URL": "redis://:hunter2@redis:6379/0"}),
        ("environment", {"SOME_ID": FAKE_AWS_KEY_ID}),
        ("command", ["valkey-server", "--requirepass", "hunter2"]),
    ],
)
def test_the_secret_scan_catches_inline_secrets(where: str, value: Any) -> None:
    file = {"services": {"bot": {"image": "x", where: value}}}
    assert inline_secrets(file)


def test_env_example_holds_no_secret_values() -> None:
    for env_file in ENV_TEMPLATES:
        for name, value in template(env_file).items():
            if SECRET_NAME.search(name):
                assert value == "", f"{name} must be empty in {ENV_TEMPLATES[env_file]}"


# ------------------------------------------------------------------------ Dockerfiles


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str


def dockerfile(name: str) -> list[Instruction]:
    """The instructions of infra/Dockerfile.NAME, continuation lines joined, comments dropped."""
    instructions: list[Instruction] = []
    pending = ""
    for line in (ROOT / "infra" / f"Dockerfile.{name}").read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        pending += " " + stripped.removesuffix("\\").strip()
        if not stripped.endswith("\\"):
            keyword, _, args = pending.strip().partition(" ")
            instructions.append(Instruction(keyword.upper(), args.strip()))
            pending = ""
    assert not pending, "a continuation line ends the file"
    return instructions


def dockerfile_args(name: str) -> dict[str, str]:
    return dict(i.args.partition("=")[::2] for i in dockerfile(name) if i.keyword == "ARG" and "=" in i.args)


def dockerfile_env(name: str) -> dict[str, str]:
    env = {}
    for i in dockerfile(name):
        if i.keyword == "ENV":
            for pair in i.args.split():
                key, _, value = pair.partition("=")
                env[key] = value
    return env


def run_commands(name: str) -> list[str]:
    """The RUN instructions, with the Dockerfile's ARG defaults filled in."""
    args = dockerfile_args(name)
    commands = []
    for i in dockerfile(name):
        if i.keyword == "RUN":
            text = i.args
            for key, value in args.items():
                text = text.replace(f"${{{key}}}", value).replace(f"${key}", value)
            commands.append(text)
    return commands


def pinned(image: str) -> bool:
    """A tag with a full version (major.minor.patch), or a digest; never latest or a moving tag."""
    if "@sha256:" in image:
        return True
    name, _, tag = image.rpartition(":")
    return bool(name) and "/" not in tag and tag != "latest" and bool(re.match(r"v?\d+\.\d+\.\d+", tag))


@pytest.mark.parametrize("name", ["bot", "worker"])
def test_dockerfile_base_images_are_pinned(name: str) -> None:
    bases = [i.args.split()[0] for i in dockerfile(name) if i.keyword == "FROM"]
    assert bases
    for base in bases:
        assert "$" not in base and pinned(base), base


@pytest.mark.parametrize("name", ["bot", "worker"])
def test_dockerfiles_run_as_a_user_that_is_not_root(name: str) -> None:
    instructions = dockerfile(name)
    keywords = [i.keyword for i in instructions]
    users = [i.args for i in instructions if i.keyword == "USER"]
    assert users and users[-1] not in ("root", "0", "0:0"), users
    last_user = max(n for n, k in enumerate(keywords) if k == "USER")
    starts = [n for n, k in enumerate(keywords) if k in ("CMD", "ENTRYPOINT")]
    assert starts and all(n > last_user for n in starts)
    user = users[-1].split(":")[0]
    assert any(re.search(rf"useradd .*\b{user}$", cmd.split("&&")[0].strip()) for cmd in run_commands(name))


@pytest.mark.parametrize("name", ["bot", "worker"])
def test_dockerfiles_follow_the_usual_lint_rules(name: str) -> None:
    instructions = dockerfile(name)
    for i in instructions:
        # DL3020: COPY, not ADD (ADD fetches URLs and unpacks archives silently)
        assert i.keyword != "ADD", i
        # DL3025: CMD and ENTRYPOINT in exec form, so signals reach the process
        if i.keyword in ("CMD", "ENTRYPOINT"):
            assert isinstance(json.loads(i.args), list), i
    for cmd in run_commands(name):
        for part in re.split(r"&&|;", cmd):
            words = part.split()
            # DL3042: no pip cache in the image
            if "pip" in words and "install" in words:
                assert "--no-cache-dir" in words, part
            # DL3015, DL3009: no recommended extras, no apt lists left behind
            if "apt-get" in words and "install" in words:
                assert "--no-install-recommends" in words, part
        if "apt-get install" in cmd:
            assert "rm -rf /var/lib/apt/lists/*" in cmd, cmd
    # the command the image runs is the one compose gives it
    cmd = next(json.loads(i.args) for i in reversed(instructions) if i.keyword == "CMD")
    assert cmd == service(name)["command"]


def copied_sources(name: str) -> set[str]:
    return {
        part.rstrip("/")
        for i in dockerfile(name)
        if i.keyword == "COPY" and not i.args.startswith("--from")
        for part in i.args.split()[:-1]
    }


@pytest.mark.parametrize("name", ["bot", "worker"])
def test_images_install_the_package_from_sources_the_build_context_holds(name: str) -> None:
    ignored = [line for line in (ROOT / ".dockerignore").read_text().splitlines() if line and line[0] != "#"]
    assert ".env" in ignored, "the filled-in .env must never reach an image"
    for source in copied_sources(name):
        assert (ROOT / source).exists(), source
        assert source not in ignored, f"{source} is in .dockerignore"
    assert {"pyproject.toml", "README.md", "bot", "inference"} <= copied_sources(name)


def pip_installs(name: str) -> list[list[str]]:
    installs = []
    for cmd in run_commands(name):
        for part in cmd.split("&&"):
            words = part.replace('"', "").split()
            if "pip" in words and "install" in words:
                installs.append(words[words.index("install") + 1 :])
    return installs


def test_the_bot_image_installs_the_bot_extra_and_no_torch() -> None:
    installs = pip_installs("bot")
    assert [w for words in installs for w in words if w.endswith("[bot]")], installs
    flat = " ".join(w for words in installs for w in words)
    assert "torch" not in flat and "inference]" not in flat, flat
    extras = pyproject()["project"]["optional-dependencies"]["bot"]
    names = {canonicalize_name(Requirement(r).name) for r in extras}
    assert not names & {"torch", "diffusers", "transformers", "accelerate"}, names


def test_the_worker_image_installs_pinned_torch_first_then_the_inference_extra() -> None:
    installs = pip_installs("worker")
    torch_at = next(n for n, words in enumerate(installs) if any(w.startswith("torch") for w in words))
    extra_at = next(
        n for n, words in enumerate(installs) if any(re.search(r"\[inference(,\w+)*\]$", w) for w in words)
    )
    assert torch_at < extra_at, "a CUDA torch must be in place before the extra would pull PyPI's"
    torch = next(w for w in installs[torch_at] if w.startswith("torch"))
    ci_pin = re.search(r"pip install --quiet (torch==[\d.]+)", (ROOT / ".ci" / "run").read_text())
    assert ci_pin and torch == ci_pin.group(1), f"{torch}: run the version the tests run on"
    assert "--index-url" in installs[torch_at]
    assert "TORCH_INDEX" in dockerfile_args("worker"), "the cpu profile's build arg"


def test_the_worker_image_owns_its_cache_and_model_directories() -> None:
    setup = next(cmd for cmd in run_commands("worker") if "useradd" in cmd)
    for directory in ("/cache/huggingface", "/models"):
        assert directory in setup.split("chown")[-1], directory


# ------------------------------------------------------------------- what images import


def pyproject() -> dict[str, Any]:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def installed_closure(extra: str) -> set[str]:
    """The distributions ``pip install .[extra]`` brings in (``extra`` may name several, comma-separated),
    followed through what is installed here."""
    project = pyproject()["project"]
    wanted_extras = [r for name in extra.split(",") for r in project["optional-dependencies"][name]]
    pending = [(Requirement(r), "") for r in project["dependencies"] + wanted_extras]
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    while pending:
        req, parent_extra = pending.pop()
        if req.marker and not req.marker.evaluate({"extra": parent_extra}):
            continue
        name = canonicalize_name(req.name)
        for wanted in sorted(req.extras) or [""]:
            if (name, wanted) in seen:
                continue
            seen.add((name, wanted))
            names.add(name)
            try:
                requires = metadata.distribution(name).requires or []
            except metadata.PackageNotFoundError:
                continue
            pending += [(Requirement(r), wanted) for r in requires]
    return names


def module_file(name: str) -> Path | None:
    """The source file of one of our modules (``inference.cli``), or None for anything else."""
    base = ROOT.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(node: ast.Try) -> bool:
    names = {"ImportError", "ModuleNotFoundError"}
    for handler in node.handlers:
        caught = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        if any(isinstance(c, ast.Name) and c.id in names for c in caught):
            return True
    return False


def imported_names(path: Path, *, in_functions: bool) -> set[str]:
    """Modules a file imports when it is loaded (and, with ``in_functions``, when its functions run).

    Imports under ``if TYPE_CHECKING`` and optional ones (``try: ... except ImportError``) do not count.
    """
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If) and _is_type_checking(node.test):
                visit(node.orelse)
            elif isinstance(node, ast.Try) and _catches_import_error(node):
                visit(node.orelse + node.finalbody)
            elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                if in_functions:
                    visit(node.body)
            else:
                for field in ("body", "orelse", "finalbody"):
                    visit(getattr(node, field, []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return found


def third_party_imports(packages: tuple[str, ...], entry_points: tuple[str, ...] = ()) -> set[str]:
    """Top-level third-party modules that ``packages`` (all their code) and ``entry_points`` (the
    modules and everything they call) import, following our own modules they load on the way."""
    whole = {m.name for p in packages for m in pkgutil.walk_packages([str(ROOT / p)], f"{p}.")}
    whole |= set(packages) | set(entry_points)
    pending, seen, found = list(whole), set(), set()
    while pending:
        name = pending.pop()
        if name in seen:
            continue
        seen.add(name)
        path = module_file(name)
        if path is None:
            continue
        # loading a module loads its parent packages first
        pending += [name.rsplit(".", i)[0] for i in range(1, name.count(".") + 1)]
        for imported in imported_names(path, in_functions=name in whole):
            top = imported.split(".")[0]
            if top in ("bot", "inference"):
                pending.append(imported)
            elif top not in sys.stdlib_module_names and top != "__future__":
                found.add(top)
    return found


@pytest.mark.parametrize(
    ("extra", "packages", "entry_points"),
    [
        # the bot image: all of bot/, what it loads of inference/, and the reelbot command that starts it
        ("bot", ("bot",), ("inference.cli",)),
        # the worker image: all of inference/ (the reelbot command, inference/cli.py, included),
        # with the speed levers' optional packages
        ("inference,speed", ("inference",), ()),
    ],
)
def test_each_image_installs_every_package_its_code_imports(
    extra: str, packages: tuple[str, ...], entry_points: tuple[str, ...]
) -> None:
    closure = installed_closure(extra)
    owners = metadata.packages_distributions()
    missing = {
        # a module not installed here (sageattention needs CUDA) is taken to be its own distribution
        module: owners.get(module, [module])
        for module in sorted(third_party_imports(packages, entry_points))
        if not {canonicalize_name(d) for d in owners.get(module, [module])} & closure
    }
    assert not missing, f"imported, but `pip install .[{extra}]` does not install: {missing}"


# ----------------------------------------------------------------------- .env.example

#: NAME=value, commented out (the default) or not
ENV_LINE = re.compile(r"^(?:#\s?)?([A-Z][A-Z0-9_]*)=(.*)$")
#: names the code spells out (prefixes such as REELBOT_LIMIT_ are not names)
CODE_NAME = re.compile(
    r"\b(?:REELBOT_[A-Z0-9_]*[A-Z0-9]|DISCORD_[A-Z0-9_]*[A-Z0-9]|REDIS_URL|AWS_[A-Z_]*[A-Z])\b"
)


def env_example() -> dict[str, str]:
    """Every variable of the three templates (each named in one only), with its documented value."""
    found: dict[str, str] = {}
    for env_file in ENV_TEMPLATES:
        names = template(env_file)
        assert not set(names) & set(found), f"{set(names) & set(found)} in two templates"
        found |= names
    return found


def names_the_code_reads() -> set[str]:
    """Every variable bot/ and inference/ read: spelled out, or built from settings fields."""
    names = set()
    for package in ("bot", "inference"):
        for path in (ROOT / package).rglob("*.py"):
            names |= set(CODE_NAME.findall(path.read_text()))
    # the worker's and the queue's settings read REELBOT_<FIELD> for each field
    names |= {f"REELBOT_{name.upper()}" for name in WorkerSettings.__dataclass_fields__}
    names |= {f"REELBOT_{name.upper()}" for name in QueueSettings.__dataclass_fields__ if name != "redis_url"}
    names |= set(LIMIT_ENV_NAMES.values())
    return names


def test_env_example_names_every_variable_the_code_reads() -> None:
    missing = sorted(names_the_code_reads() - set(env_example()))
    assert not missing, f"add these to .env.example, with their defaults: {missing}"


def test_env_example_leaves_everything_but_the_secrets_at_the_code_defaults() -> None:
    active = {
        m.group(1)
        for env_file in ENV_TEMPLATES
        for line in (ROOT / ENV_TEMPLATES[env_file]).read_text().splitlines()
        if (m := re.match(r"^([A-Z]\w*)=", line))
    }
    assert active == {"DISCORD_TOKEN", "REDIS_PASSWORD"}, "uncommented settings would override the code"


def test_env_example_documents_the_code_defaults() -> None:
    documented = env_example()
    assert BotSettings.from_env(documented) == BotSettings.from_env({})
    assert WorkerSettings.from_env(documented) == WorkerSettings()
    assert QueueSettings.from_env(documented) == QueueSettings()
    assert documented["REELBOT_LOG_LEVEL"] == "INFO"
    assert documented["REELBOT_LOG_FORMAT"] == "text"
    assert documented["REELBOT_EVENT_LOOP"] == "auto"
    assert documented["DISCORD_TOKEN"] == "" and documented["REDIS_PASSWORD"] == ""


def test_env_example_agrees_with_what_compose_fixes() -> None:
    documented = env_example()
    assert documented["REELBOT_METRICS_PORT"] == environment(service("worker"))["REELBOT_METRICS_PORT"]
    assert documented["REELBOT_BOT_METRICS_PORT"] == environment(service("bot"))["REELBOT_BOT_METRICS_PORT"]
    assert documented["HF_HOME"] == environment(service("worker"))["HF_HOME"]
