"""Notifications: stored transitions -> grouped messages -> an outbox -> Apprise.

``model`` and ``messages`` are pure; ``outbox`` keeps the queue in the state database;
``sender`` drains it; ``apprise_edge`` is the only module that imports Apprise.
"""
