"""How the report and the monitor write numbers for people, and read them from a command line."""
import argparse
import math
from typing import Optional, Sequence


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def percent_interval(interval: Optional[Sequence[Optional[float]]]) -> str:
    """'95% interval 91.2% to 99.0%', or 'no interval' when either end is unknown."""
    if not interval or interval[0] is None or interval[1] is None:
        return "no interval"
    return f"95% interval {percent(interval[0])} to {percent(interval[1])}"


def fraction(text: str) -> float:
    """An argparse type: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"{value} is not between 0 and 1")
    return value
