"""The CloudWatch metrics SageMaker publishes for an endpoint, published by the local endpoint.

Per variant, in namespace AWS/SageMaker with the EndpointName and VariantName dimensions:
Invocations, Invocation4XXErrors, Invocation5XXErrors (one value per request, 0 or 1) and
ModelLatency (microseconds, per answered request). Deployment guardrails roll a promotion back on
alarms over these, so the stand-in needs them as the cloud has them. Values are put from a
worker thread, never on a request's path; flush() waits until every recorded value is in.
"""
import logging
import queue
import threading
from datetime import datetime, timezone
from typing import Optional

logger = logging.getLogger(__name__)

NAMESPACE = "AWS/SageMaker"
MAX_DATA_PER_CALL = 1000       # PutMetricData's limit of values in one call
MAX_QUEUED = 100_000           # beyond that, values are dropped (counted), never queued without bound


class EndpointMetrics:
    def __init__(self, cloudwatch, endpoint_name: str):
        self.cloudwatch, self.endpoint_name = cloudwatch, endpoint_name
        self.dropped = 0
        self._queue: "queue.Queue[Optional[dict]]" = queue.Queue(MAX_QUEUED)
        self._worker = threading.Thread(target=self._run, name="endpoint-metrics", daemon=True)
        self._worker.start()

    def record(self, variant_name: str, status: int, latency_microseconds: Optional[float]) -> None:
        """One request's metrics: its HTTP status, and the model's latency when it answered."""
        now = datetime.now(timezone.utc)
        dimensions = [{"Name": "EndpointName", "Value": self.endpoint_name},
                      {"Name": "VariantName", "Value": variant_name}]
        values = {"Invocations": 1.0, "Invocation4XXErrors": float(400 <= status < 500),
                  "Invocation5XXErrors": float(status >= 500)}
        if latency_microseconds is not None:
            values["ModelLatency"] = float(latency_microseconds)
        for name, value in values.items():
            unit = "Microseconds" if name == "ModelLatency" else "Count"
            try:
                self._queue.put_nowait({"MetricName": name, "Dimensions": dimensions, "Timestamp": now,
                                        "Value": value, "Unit": unit})
            except queue.Full:
                self.dropped += 1

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until every value recorded so far is in CloudWatch (or failed to get there)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        done.wait(timeout)

    def close(self) -> None:
        self.flush()
        self._queue.put(None)
        self._worker.join(5)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                self._queue.task_done()
                return
            batch = [first]
            while len(batch) < MAX_DATA_PER_CALL:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    self._queue.put(None)   # seen after this batch
                    self._queue.task_done()
                    break
                batch.append(item)
            try:
                self.cloudwatch.put_metric_data(Namespace=NAMESPACE, MetricData=batch)
            except Exception as error:  # noqa: BLE001 - metrics must never take the endpoint down
                logger.warning("Could not put %d endpoint metric values: %s", len(batch), error)
            finally:
                for _ in batch:
                    self._queue.task_done()
