"""fleetwatch: an agentless fleet monitor for agent-runner hosts over SSH."""

__version__ = "0.1.0"
