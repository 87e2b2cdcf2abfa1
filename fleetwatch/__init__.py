"""fleetwatch: an agentless fleet monitor for agent-runner hosts over SSH."""

__version__ = "0.2.0"
