"""The stop confirmation: exactly what will run and where; Cancel is the default."""

from __future__ import annotations

import shlex
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from fleetwatch.tui.backend import StopPreview


class StopScreen(ModalScreen[bool]):
    """Dismissed with True only when the user presses Stop."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, preview: StopPreview) -> None:
        super().__init__(classes="dialog")
        self.preview = preview

    def compose(self) -> ComposeResult:
        p = self.preview
        text = Text.assemble(
            ("Stop agent-runner on ", "bold"),
            (p.host, "bold"),
            ("?\n\n", "bold"),
            ("runs   ", "dim"),
            (shlex.join(p.argv), "bold"),
            "\n",
            ("on     ", "dim"),
            (p.where, "bold"),
            "\n\n",
            "serve gets SIGTERM (it may finish its round first); a fresh peek then says whether it "
            "stopped, is still draining, or failed. Recorded in the audit log.",
        )
        if p.dry_run:
            text.append(
                "\n\nDRY RUN: nothing will run; the audit log records what would have.", style="bold yellow"
            )
        with Vertical(id="dialog"):
            yield Static(text, id="dialog-text")
            with Horizontal(id="dialog-buttons"):
                yield Button("Cancel", id="cancel", variant="primary")
                yield Button("Dry run" if p.dry_run else "Stop", id="confirm", variant="error")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        """Close without stopping."""
        self.dismiss(False)
