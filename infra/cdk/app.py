"""The CDK app that ``npx aws-cdk@2 deploy`` runs from ``infra/cdk`` (see cdk.json and docs/AWS.md).

The account and region come from context (``-c account=... -c region=...``) or from the CDK
CLI's credentials (``CDK_DEFAULT_ACCOUNT``/``CDK_DEFAULT_REGION``); every other setting is
context too (``infra/cdk/config.py``).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# cdk.json runs this file as a script; the stack lives in the package infra.cdk, which imports
# from the repository root.
_REPO = Path(__file__).resolve().parents[2]
if str(_REPO) not in sys.path:
    sys.path.insert(0, str(_REPO))

import aws_cdk as cdk  # noqa: E402

from infra.cdk.config import ConfigError, StackConfig  # noqa: E402
from infra.cdk.reelbot_stack import ReelbotStack  # noqa: E402


def main() -> None:
    """Synthesise the Reelbot stack into the CLI's output directory."""
    app = cdk.App()
    try:
        config = StackConfig.from_context(app.node.try_get_context)
    except ConfigError as exc:
        sys.exit(str(exc))
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    region = app.node.try_get_context("region") or os.environ.get("CDK_DEFAULT_REGION")
    stack_name = app.node.try_get_context("stackName") or "Reelbot"
    ReelbotStack(
        app,
        stack_name,
        config=config,
        env=cdk.Environment(account=account, region=region),
    )
    cdk.Tags.of(app).add("project", "reelbot")
    cdk.Tags.of(app).add("reelbot:namespace", config.namespace)
    app.synth()


if __name__ == "__main__":
    main()
