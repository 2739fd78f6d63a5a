"""Argument parsing shared by the stage CLIs: the users' flag spellings carry over."""

import argparse

from components.common.errors import UserError


def str2bool(value):
    """Accept the users' `True`/`False` as well as yes/no/1/0."""
    if isinstance(value, bool):
        return value
    lowered = value.strip().lower()
    if lowered in ("true", "t", "yes", "y", "1"):
        return True
    if lowered in ("false", "f", "no", "n", "0"):
        return False
    raise argparse.ArgumentTypeError(f"expected True or False, got {value!r}")


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows a flag's default after its help, unless the help already says it or there is none
    to show (None, an empty list)."""

    def _get_help_string(self, action):
        if "default:" in (action.help or "") or action.default in (None, []):
            return action.help
        return super()._get_help_string(action)


class ArgumentParser(argparse.ArgumentParser):
    """argparse with defaults shown in --help; usage errors exit with code 2 like user errors."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message):
        """A bad flag (an unknown choice, a missing required flag) as one line in the stages'
        style, not argparse's usage block: `error: what (which command); what to do`."""
        self.exit(2, f"error: {message} ({self.prog}); see {self.prog} --help\n")


def check_range(name, value, low=None, high=None, low_open=False, high_open=False):
    """Raise a UserError naming the flag when `value` lies outside [low, high] (or open ends)."""
    bad = (low is not None and (value <= low if low_open else value < low)) or (
        high is not None and (value >= high if high_open else value > high))
    if bad:
        lo = "(" if low_open else "["
        hi = ")" if high_open else "]"
        raise UserError(f"--{name}={value} is out of range {lo}{low}, {high}{hi}",
                        where=f"--{name}", fix=f"pass a value in {lo}{low}, {high}{hi}")


def with_raw_epilog(formatter_class):
    """`formatter_class` that prints the description and epilog as written (a module docstring's
    examples keep their lines)."""
    return type("Formatter", (formatter_class, argparse.RawDescriptionHelpFormatter), {})
