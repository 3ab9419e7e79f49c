"""One exception type for every user-facing failure.

Library code raises `TilelliError("one clear line")` for bad input (unknown model name, corrupt
shard, malformed JSONL, out-of-range param). Entry points (`tilelli.stage.run`, the CLI) print
`error: <message>` on stderr and exit 2, with no traceback wall.
"""


class TilelliError(Exception):
    """A user-facing error whose message is one line that says what to do."""
