"""Reelbot's AWS CDK app (aws-cdk-lib v2): ``app.py`` is the entry, ``reelbot_stack.py`` the stack."""
