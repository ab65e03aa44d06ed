"""The package's exceptions. Each message says what was wrong, where, and how to fix it."""


class GoodPracticeError(ValueError):
    """Input that the analysis cannot use: the message names what and where."""


class PanelFormatError(GoodPracticeError):
    """A panel file breaks the data contract: the message names file, row, column, value and what was expected."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        row: int | None = None,
        column: str | None = None,
        value: object = None,
    ):
        self.file, self.row, self.column, self.value = file, row, column, value
        super().__init__(message)


class KnowledgeBaseError(GoodPracticeError):
    """A write to the knowledge base was refused; nothing of it was written."""


class ParameterError(GoodPracticeError):
    """A review parameter file is invalid: unknown names, bad values or paths outside the output folder."""
