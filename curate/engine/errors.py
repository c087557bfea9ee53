"""What ends a run that its config allowed: a step that fails on too many documents, a reader that
finds no documents in non-empty input. The CLI prints the message and exits non-zero."""


class RunFailed(RuntimeError):
    """The run cannot give a trustworthy output; the message says why and what to check."""
