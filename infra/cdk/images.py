"""Container images from a URI in context: ECR repositories get pull permissions, others must be public."""

from __future__ import annotations

import re

from aws_cdk import aws_ecr as ecr
from aws_cdk import aws_ecs as ecs
from constructs import Construct

#: ACCOUNT.dkr.ecr.REGION.amazonaws.com[.cn]/REPOSITORY[:TAG][@sha256:DIGEST]
_ECR = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?/"
    r"(?P<repo>[a-z0-9][a-z0-9._/-]*?)(?::(?P<tag>[\w.-]+))?(?:@(?P<digest>sha256:[0-9a-f]{64}))?$"
)


def container_image(scope: Construct, id: str, uri: str) -> ecs.ContainerImage:
    """The image at ``uri``.

    An Amazon ECR URI becomes a repository reference, so the task's execution role is granted
    ``ecr:BatchGetImage`` and friends on that repository alone; any other registry is pulled
    anonymously (a private one would need repository credentials, which this stack does not set).
    """
    match = _ECR.match(uri.strip())
    if match is None:
        return ecs.ContainerImage.from_registry(uri.strip())
    partition = "aws-cn" if match["cn"] else "aws"
    repository = ecr.Repository.from_repository_attributes(
        scope,
        id,
        repository_arn=(
            f"arn:{partition}:ecr:{match['region']}:{match['account']}:repository/{match['repo']}"
        ),
        repository_name=match["repo"],
    )
    return ecs.ContainerImage.from_ecr_repository(repository, match["digest"] or match["tag"] or "latest")
