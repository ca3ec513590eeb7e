"""The monitoring report's page: one self-contained HTML file (plots embedded as data URIs)."""
import base64
import html
from datetime import datetime, timezone
from typing import Dict

import settings
from monitoring import compare
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


def _png_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _decision_text(decision: dict, label: str) -> str:
    verdict = "right" if decision["predicted"] == label else "wrong"
    action = "routed" if decision["routed"] else ("to a person, unusable" if not decision["usable"] else "to a person")
    return f"{decision['predicted']} {decision['confidence']:.2f}, {action} ({verdict})"


def render_comparison(comparison) -> str:
    """The champion-and-challenger section (a report_compare.Comparison)."""
    result = comparison.result
    names = {"champion": result["champion_variant"], "challenger": result["challenger_variant"]}
    rows = "\n".join(
        f"<tr><th>{side} ({html.escape(names[side])})</th><td>{percent(figures['coverage'])}</td>"
        f"<td>{percent(figures['precision_accepted'])} ({percent_interval(figures['precision_interval'])})</td>"
        f"<td>{percent(figures['coverage_at_target_precision'])} "
        f"({percent_interval(figures['coverage_at_target_precision_interval'])})</td></tr>"
        for side, figures in result["variants"].items())
    more = result.get("more_labels_to_decide")
    verdict = html.escape(result["verdict"]) + (
        f" (about {more} more checked drivers would decide at this rate)" if result["verdict"] == compare.UNDECIDED
        and more is not None else "")
    left_out = (f" {result['left_out_trained_on']} drivers whose photos the challenger was trained on are left out."
                if result["left_out_trained_on"] else "")
    cases = []
    for row in result["checked_disagreements"]:
        uri = comparison.thumbnails.get(row["inference_id"])
        if not uri:
            continue
        said = "not a vehicle" if row["label"] == settings.NOT_A_VEHICLE else row["label"]
        caption = (f"person: {html.escape(said)}<br>champion: {html.escape(_decision_text(row['champion'], row['label']))}"
                   f"<br>challenger: {html.escape(_decision_text(row['challenger'], row['label']))}")
        cases.append(f'<figure class="case"><img alt="{html.escape(row["inference_id"])}" src="{uri}">'
                     f'<figcaption>{caption}</figcaption></figure>')
    shown = len(cases)
    total = len(result["checked_disagreements"])
    gallery = (f"<h3>Checked drivers the two decide differently about ({shown} of {total} shown)</h3>\n"
               f'<div class="cases">{"".join(cases)}</div>' if total else
               "<p>On the checked drivers, the two models decide alike.</p>")
    return f"""<h2>Champion and challenger</h2>
<p class="verdict">Verdict: <strong>{verdict}</strong>: {html.escape(result['reason'])}.
{html.escape(_sentence(compare.VERDICT_MEANINGS[result['verdict']]))}.</p>
<p>{result['pairs']} drivers were answered by both; they decide alike for {percent(result['agreement'])}, and people
checked {result['checked']} of them. Where the two decide differently, the challenger routes right
{result['routed_right_gained']} checked drivers the champion does not, and the champion
{result['routed_right_lost']} the challenger does not; nobody checked {result['unchecked_champion_routes']} more the
champion routes and {result['unchecked_challenger_routes']} the challenger routes, and each side's sign test bounds
those against it (challenger better: p = {result['challenger_routes_better_p_value']:.3g}; champion better:
p = {result['champion_routes_better_p_value']:.3g}). Which names the class right, where the two differ: challenger
{result['challenger_better']}, champion {result['champion_better']} (McNemar p = {result['mcnemar_p_value']:.3g}).
Precision is estimated with the champion's decisions as the strata, since people checked drivers by what the
champion decided.{left_out}</p>
<table>
<tr><th></th><th>routed at {result['threshold']:g} (counted)</th><th>precision among routed (estimated)</th>
<th>coverage at {percent(result['target_precision'])} precision</th></tr>
{rows}
</table>
<figure><img alt="Champion and challenger figures" src="{_png_uri(comparison.plot)}"><figcaption>The share each
variant routes at the threshold, its precision among those, and its coverage at the target precision, with 95%
intervals.</figcaption></figure>
{gallery}
"""


def render_html(summary: dict, images: Dict[str, bytes], sources: Dict[str, str], comparison=None) -> str:
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
        f'<figure><img alt="{html.escape(PLOT_CAPTIONS[name])}" src="{_png_uri(png)}"><figcaption>{html.escape(PLOT_CAPTIONS[name])}'
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
.cases {{ display: flex; flex-wrap: wrap; gap: 10px; }}
figure.case {{ width: 200px; margin: 0; }}
figure.case img {{ width: 96px; height: auto; image-rendering: pixelated; }}
.verdict {{ font-size: large; }}
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
{render_comparison(comparison) if comparison else ""}
</body></html>
"""


