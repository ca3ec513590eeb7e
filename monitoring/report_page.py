"""The monitoring report's page: one self-contained HTML file (plots embedded as data URIs)."""
import base64
import html
from datetime import datetime, timezone
from typing import Dict

from monitoring.formatting import percent, percent_interval

PLOT_CAPTIONS = {
    "confidence_over_time": "Each captured inference's confidence against the threshold; red crosses are "
                            "predictions the ground truth says are wrong.",
    "threshold_curves": "For every possible threshold: the share of usable drivers accepted (coverage, counted) and "
                        "how many of those are classified correctly (precision among accepted, estimated from the "
                        "people's checks, with its 95% interval shaded).",
    "reliability": "Calibration: within each confidence band, how often the model is right. Bars below the "
                   "diagonal mean the model is over-confident there.",
    "confusion_matrix": "True class against predicted class, over the labelled inferences.",
}


def render_html(summary: dict, images: Dict[str, bytes], sources: Dict[str, str]) -> str:
    """One page, no external files: plots are embedded as base64 data URIs."""
    rows = [("Captured inferences", summary["records"]), ("Capture files", summary["capture_files"]),
            ("Threshold", f"{summary['threshold']:g}"),
            ("Below threshold", f"{summary['below_threshold']} ({percent(summary['share_below_threshold'])})"),
            ("Skipped capture lines", sum(summary["skipped_capture_lines"].values()))]
    if "accuracy" in summary:
        at = summary["at_threshold"]
        recommended = summary["recommended_threshold"]
        rows += [("Usable inferences (coverage counts these)", at["usable"]),
                 ("Labelled inferences", summary["labelled"]),
                 ("Accuracy of the checked drivers (unweighted, mostly rejected ones)", percent(summary["accuracy"])),
                 ("Estimated accuracy over all usable drivers",
                  f"{percent(summary['estimated_accuracy'])} ({percent_interval(summary['estimated_accuracy_interval'])})"),
                 ("Expected calibration error (checked drivers)", f"{summary['expected_calibration_error']:.4f}"),
                 (f"Coverage at {summary['threshold']:g} (counted)", f"{percent(at['coverage'])} ({at['accepted']} routed)"),
                 (f"Precision among accepted at {summary['threshold']:g} (estimated)",
                  f"{percent(at['precision_accepted'])} ({percent_interval(at['precision_interval'])}; "
                  f"{at['audited']} audited of {at['accepted']})"),
                 ("Target precision among accepted", percent(summary["target_precision"])),
                 ("Recommended threshold", "none reaches the target" if recommended is None else
                  f"{recommended:g} (precision {percent(summary['recommended']['precision_accepted'])}, "
                  f"{percent_interval(summary['recommended_precision_interval'])})"),
                 ("Coverage at the target precision",
                  f"{percent(summary['coverage_at_target_precision'])} "
                  f"({percent_interval(summary['coverage_at_target_precision_interval'])})"),
                 ("Not usable photos (to a person)", summary["unusable"])]
        loop = summary["loop"]
        rows += [("Reviewed rejections", f"{loop['reviewed_rejections']} ({loop['reviewed_right']} guessed right, "
                                         f"{loop['reviewed_not_a_vehicle']} not a vehicle)")]
    table = "\n".join(f"<tr><th>{html.escape(str(name))}</th><td>{html.escape(str(value))}</td></tr>"
                      for name, value in rows)
    sentences = "\n".join(f"<li>{html.escape(sentence)}</li>" for sentence in summary["sentences"])
    figures = "\n".join(
        f'<figure><img alt="{html.escape(PLOT_CAPTIONS[name])}" src="data:image/png;base64,'
        f'{base64.b64encode(png).decode("ascii")}"><figcaption>{html.escape(PLOT_CAPTIONS[name])}'
        f'</figcaption></figure>' for name, png in images.items())
    source_text = ", ".join(f"{name}: {location}" for name, location in sources.items() if location)
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>Vehicle classifier monitoring report</title>
<style>
body {{ font-family: sans-serif; max-width: 1000px; margin: 2em auto; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 4px 10px; text-align: left; }}
th {{ background: #f4f4f4; font-weight: normal; }}
li {{ margin: 0.4em 0; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
.meta, figcaption {{ color: #666; font-size: small; }}
figure {{ margin: 1.5em 0; }}
</style></head><body>
<h1>Vehicle classifier monitoring report</h1>
<p class="meta">Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {html.escape(source_text)}.</p>
<h2>In plain words</h2>
<ul>
{sentences}
</ul>
<h2>Figures</h2>
<table>
{table}
</table>
{figures}
</body></html>
"""


