"""Prometheus metrics, written in the text exposition format by hand (no client library).

``GET /metrics`` serves:

- ``kapibara_request_seconds`` (histogram, by endpoint and model): whole-request latency;
- ``kapibara_ttft_seconds`` (histogram, by model): time from the request to its first
  content or tool-call byte;
- ``kapibara_tokens_per_second`` (histogram, by model): generated tokens over generation time;
- ``kapibara_queue_depth`` (gauge, by model): requests waiting for the model now;
- ``kapibara_requests_total`` (counter, by endpoint and status code);
- ``kapibara_errors_total`` (counter, by kind: ``invalid_value``, ``queue_full``,
  ``authentication``, ``cancelled``, ``internal``, ...).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Callable

LATENCY_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
RATE_BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0)

Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, extra: str = "") -> str:
    parts = [f'{k}="{_escape(v)}"' for k, v in labels]
    if extra:
        parts.append(extra)
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _num(value: float) -> str:
    return repr(float(value)) if value != int(value) else f"{int(value)}"


class Histogram:
    def __init__(self, name: str, help_: str, buckets: tuple[float, ...]) -> None:
        self.name, self.help, self.buckets = name, help_, buckets
        self._series: dict[Labels, tuple[list[int], list[float]]] = {}

    def observe(self, value: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        counts, total = self._series.setdefault(key, ([0] * (len(self.buckets) + 1), [0.0]))
        counts[bisect.bisect_left(self.buckets, value)] += 1
        total[0] += value

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} histogram"]
        for key, (counts, total) in sorted(self._series.items()):
            running = 0
            for bound, n in zip((*self.buckets, float("inf")), counts, strict=True):
                running += n
                le = "+Inf" if bound == float("inf") else _num(bound)
                bucket = _labels(key, 'le="' + le + '"')
                lines.append(f"{self.name}_bucket{bucket} {running}")
            lines.append(f"{self.name}_sum{_labels(key)} {_num(total[0])}")
            lines.append(f"{self.name}_count{_labels(key)} {running}")
        return lines


class Counter:
    def __init__(self, name: str, help_: str) -> None:
        self.name, self.help = name, help_
        self._series: dict[Labels, float] = {}

    def inc(self, amount: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        self._series[key] = self._series.get(key, 0.0) + amount

    def value(self, **labels: str) -> float:
        return self._series.get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> list[str]:
        lines = [f"# HELP {self.name} {self.help}", f"# TYPE {self.name} counter"]
        lines += [f"{self.name}{_labels(key)} {_num(v)}" for key, v in sorted(self._series.items())]
        return lines


class Metrics:
    """The server's metrics. Thread-safe; ``gauges`` are read when rendered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.latency = Histogram("kapibara_request_seconds", "Request latency in seconds.", LATENCY_BUCKETS)
        self.ttft = Histogram("kapibara_ttft_seconds", "Time to the first streamed byte of the answer.",
                              LATENCY_BUCKETS)
        self.tokens_per_s = Histogram("kapibara_tokens_per_second", "Generated tokens per second of generation.",
                                      RATE_BUCKETS)
        self.requests = Counter("kapibara_requests_total", "Requests by endpoint and HTTP status.")
        self.errors = Counter("kapibara_errors_total", "Failed or refused requests by kind.")
        self.queue_depth: dict[str, Callable[[], int]] = {}

    def observe_request(self, endpoint: str, model: str, status: int, seconds: float) -> None:
        with self._lock:
            self.latency.observe(seconds, endpoint=endpoint, model=model)
            self.requests.inc(endpoint=endpoint, status=str(status))

    def observe_generation(self, model: str, ttft_s: float | None, tokens: int, seconds: float) -> None:
        with self._lock:
            if ttft_s is not None:
                self.ttft.observe(ttft_s, model=model)
            if tokens and seconds > 0:
                self.tokens_per_s.observe(tokens / seconds, model=model)

    def error(self, kind: str) -> None:
        with self._lock:
            self.errors.inc(kind=kind)

    def render(self) -> str:
        with self._lock:
            lines = [*self.latency.render(), *self.ttft.render(), *self.tokens_per_s.render(),
                     *self.requests.render(), *self.errors.render(),
                     "# HELP kapibara_queue_depth Requests waiting for the model.",
                     "# TYPE kapibara_queue_depth gauge"]
            lines += [f'kapibara_queue_depth{{model="{_escape(m)}"}} {depth()}'
                      for m, depth in sorted(self.queue_depth.items())]
        return "\n".join(lines) + "\n"
