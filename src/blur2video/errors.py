"""The one exception type for bad input: the CLI turns it into a single stderr line and exit 2."""


class Blur2VideoError(Exception):
    """A problem with the user's input, stated in one line that names the file and the fix."""


class SkipSample(Blur2VideoError):
    """One synthesized sample cannot be made (e.g. a corrupt frame): the runner reports it,
    records it in skipped.jsonl and goes on with the others."""
