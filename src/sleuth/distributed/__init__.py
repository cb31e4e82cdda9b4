"""sleuth on Ray: distributed ingest and encoding (``add``), and co-visitation and popularity
fitted by a distributed group-by over event logs (``fit_events``).

Ray is an optional extra (``pip install 'sleuth[ray]'``), imported only when a job runs.
"""

from __future__ import annotations

from sleuth.distributed.cluster import Cluster, connect
from sleuth.distributed.fits import EventTables, events_of, fit_events
from sleuth.distributed.ingest import IngestReport, add

__all__ = ["Cluster", "EventTables", "IngestReport", "add", "connect", "events_of", "fit_events"]
