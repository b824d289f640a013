"""The one exception the toolkit raises for bad input."""


class ParameterError(ValueError):
    """Invalid user input; the message is one line that names the parameter."""
