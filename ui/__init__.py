"""The Textual operator console.

``ConsoleApp(config)`` is the whole console; ``station console`` runs it. Only
this package imports Textual.
"""

from ui.app import ConsoleApp

__all__ = ["ConsoleApp"]
