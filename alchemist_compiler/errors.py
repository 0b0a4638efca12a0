"""Errors a user can act on. The CLI prints them on one line and exits with code 2."""


class AlchemistError(Exception):
    """Bad input or configuration: printed as one line, exit code 2, nothing written."""


class TaskError(AlchemistError):
    """task.yaml is invalid: the message names the key and what is wrong."""


class DataError(AlchemistError):
    """A data file is missing or malformed: the message names the file and row."""


class LLMError(AlchemistError):
    """The LLM could not answer (after retries), or an answer is missing in --offline mode."""


class OutputDirError(AlchemistError):
    """OUTDIR cannot be replaced without risking the user's files: the message names it and why."""
