"""The monitoring report's page: one self-contained HTML file (plots embedded as data URIs)."""
import base64
import html
from datetime import datetime, timezone
from typing import Dict

import settings
from monitoring import compare
from monitoring.formatting import percent

PLOT_CAPTIONS = {
    "confidence_over_time": "Each captured inference's confidence against the threshold; red crosses are "
                            "predictions the ground truth says are wrong.",
    "threshold_curves": "For every possible threshold: the share of usable drivers accepted (coverage, counted) and "
                        "how many of those are classified correctly (precision among accepted, estimated from the "
                        "people's checks, with its 95% interval shaded; its line is drawn only where enough checks "
                        "support a point estimate), beside the label-free precision the confidences expect if they "
                        "are calibrated (dashed).",
    "reliability": "Calibration: within each confidence band, how often the model is right. Bars below the "
                   "diagonal mean the model is over-confident there.",
    "confusion_matrix": "True class against predicted class, over the labelled inferences.",
}


def _png_uri(png: bytes) -> str:
    return f"data:image/png;base64,{base64.b64encode(png).decode('ascii')}"


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _alarm(text: str) -> str:
    """The class attribute that makes a sentence saying the checks contradict a label-free figure
    stand out, so nobody misses it; "" for any other text."""
    contradicts = " contradict the label-free figure" in text and " do not contradict" not in text
    return ' class="alarm"' if contradicts else ""


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
        f"<td>{html.escape(figures['precision_text'])}</td><td>{html.escape(figures['label_free_text'])}"
        f"<br><span{_alarm(figures['calibration_text'])}>"
        f"{html.escape(figures['calibration_text'])}</span></td>"
        f"<td>{html.escape(figures['coverage_at_target_precision_text'])}</td></tr>"
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
checked {result['checked']} of them. Which names the class right, where the two differ: challenger
{result['challenger_better']}, champion {result['champion_better']} (McNemar p = {result['mcnemar_p_value']:.3g};
it decides nothing). Precision is estimated with the champion's decisions as the strata, since people checked
drivers by what the champion decided; the label-free precision is the mean confidence of the drivers each model
routes, which holds only while its confidences stay calibrated.{left_out}</p>
<table>
<tr><th></th><th>routed at {result['threshold']:g} (counted)</th><th>precision among routed, audited</th>
<th>precision among routed, label-free</th><th>coverage at {percent(result['target_precision'])} precision</th></tr>
{rows}
</table>
<figure><img alt="Champion and challenger figures" src="{_png_uri(comparison.plot)}"><figcaption>The share each
variant routes at the threshold, its precision among those (audited, and label-free as a diamond), and its coverage
at the target precision, with 95% intervals. A figure resting on fewer checks than a point estimate needs is drawn
as its interval alone (hatched).</figcaption></figure>
{gallery}
"""


def render_html(summary: dict, images: Dict[str, bytes], sources: Dict[str, str], comparison=None) -> str:
    """One page, no external files: plots are embedded as base64 data URIs."""
    cert = summary["certificate"]
    missing = cert["missing_checks"]
    rows = [("Certified threshold", f"{cert['threshold']:g}, routing {percent(cert['routed_share'])} of usable drivers "
                                    f"(at least {percent(cert['target_precision'])} right, {percent(cert['confidence'])} "
                                    f"confidence)" if cert["certified"] else
             f"not yet: {missing['clean_checks']} more clean audits at {cert['threshold_now']:g}"),
            ("Checks the certificate rests on", f"{cert['checks']['audited']['checked']} audited of "
                                                f"{cert['checks']['audited']['drivers']} routed "
                                                f"({cert['checks']['audited']['wrong']} wrong); "
                                                f"{cert['checks']['reviewed']['drivers']} reviewed below "
                                                f"{cert['threshold_now']:g} ({cert['checks']['reviewed']['wrong']} wrong)"),
            ("Captured inferences", summary["records"]), ("Capture files", summary["capture_files"]),
            ("Threshold", f"{summary['threshold']:g}"),
            ("Below threshold", f"{summary['below_threshold']} ({percent(summary['share_below_threshold'])})"),
            ("Skipped capture lines", sum(summary["skipped_capture_lines"].values()))]
    if "accuracy" in summary:
        at = summary["at_threshold"]
        label_free = summary["label_free"]
        rows += [("Usable inferences (coverage counts these)", at["usable"]),
                 ("Labelled inferences", summary["labelled"]),
                 ("Checked usable drivers right (unweighted, mostly rejected ones)",
                  f"{summary['checked_usable_right']} of {summary['checked_usable']}"),
                 ("Accuracy over all usable drivers, audited", summary["estimated_accuracy_text"]),
                 ("Accuracy over all usable drivers, label-free", label_free["accuracy_text"]),
                 ("Do the checked usable drivers contradict it?", label_free["accuracy_check_text"]),
                 ("Expected calibration error (checked drivers)", f"{summary['expected_calibration_error']:.4f}"),
                 (f"Coverage at {summary['threshold']:g} (counted)", f"{percent(at['coverage'])} ({at['accepted']} routed)"),
                 (f"Precision among accepted at {summary['threshold']:g}, audited", at["precision_text"]),
                 (f"Precision among accepted at {summary['threshold']:g}, label-free", label_free["precision_text"]),
                 ("Do the audited routed drivers contradict it?", label_free["precision_check_text"]),
                 ("Target precision among accepted", percent(summary["target_precision"])),
                 ("Coverage at the target precision", summary["coverage_at_target_precision_text"]),
                 ("Not usable photos (to a person)", summary["unusable"])]
        loop = summary["loop"]
        rows += [("Reviewed rejections", f"{loop['reviewed_rejections']} ({loop['reviewed_right']} guessed right, "
                                         f"{loop['reviewed_not_a_vehicle']} not a vehicle)")]
    elif "label_free" in summary:
        rows += [(f"Precision among accepted at {summary['threshold']:g}, label-free",
                  summary["label_free"]["precision_text"]),
                 ("Accuracy over all usable drivers, label-free", summary["label_free"]["accuracy_text"])]
    table = "\n".join(f"<tr><th>{html.escape(str(name))}</th><td{_alarm(str(value))}>"
                      f"{html.escape(str(value))}</td></tr>" for name, value in rows)
    sentences = "\n".join(f"<li{_alarm(sentence)}>{html.escape(sentence)}</li>"
                          for sentence in summary["sentences"][1:])  # the first is the answer, above
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
li.alarm, .alarm {{ color: #a00; font-weight: bold; }}
</style></head><body>
<h1>Vehicle classifier monitoring report</h1>
<p class="meta">Generated {datetime.now(timezone.utc):%Y-%m-%d %H:%M} UTC from {html.escape(source_text)}.</p>
<p class="verdict{' alarm' if not cert['certified'] else ''}" id="answer">{html.escape(cert['answer'])}</p>
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


