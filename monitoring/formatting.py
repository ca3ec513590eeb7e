"""How the report and the monitor write numbers for people."""
import math
from typing import Optional, Sequence


def percent(value: Optional[float]) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{100 * value:.1f}%"


def percent_interval(interval: Optional[Sequence[Optional[float]]]) -> str:
    """'95% interval 91.2% to 99.0%', or 'no interval' when either end is unknown."""
    if not interval or interval[0] is None or interval[1] is None:
        return "no interval"
    return f"95% interval {percent(interval[0])} to {percent(interval[1])}"
