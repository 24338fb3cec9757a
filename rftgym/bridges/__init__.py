"""Bridges: rftgym envs where other systems run them.

* :mod:`rftgym.bridges.sagemaker`: SageMaker AI's serverless agent RFT (AgentRFT) agent server,
  ``rftgym bridge sagemaker ENV_ID``.
* :mod:`rftgym.bridges.mcp`: an env's tools as an MCP server, and an MCP server's tools inside an env.
* :mod:`rftgym.bridges.verifiers`: an env as a ``verifiers`` environment (Nova Forge, prime-rl).

A bridge adapts an env; it never forks its logic (the turn loop is :mod:`rftgym.rollout`'s).
"""
