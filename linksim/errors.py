"""Errors that mean "the user's input is wrong" (exit code 2), as opposed to bugs."""


class LinksimInputError(Exception):
    """Bad user input: a scenario field, a file, a dataset. The message names the culprit.

    The CLI turns it into one clear line on stderr and exit code 2.
    """


class DatasetError(LinksimInputError):
    """A dataset or cache file is missing, corrupt, or not a linksim file."""
