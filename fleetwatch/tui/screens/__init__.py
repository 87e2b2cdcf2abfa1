"""The TUI's screens: the fleet, one host, the alert log, and the modal dialogs."""
