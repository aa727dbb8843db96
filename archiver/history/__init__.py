"""History in and out: bring minutes from files and Prometheus-compatible stores into the
archive, and give archived minutes back to a TSDB.

* :mod:`~archiver.history.importfile` — OpenMetrics files (plain or ``.gz``, any size);
* :mod:`~archiver.history.prometheus` — the Prometheus HTTP query API (``query_range``);
* :mod:`~archiver.history.export` — OpenMetrics text that ``promtool`` backfills from;
* :mod:`~archiver.history.remotewrite` — Prometheus remote-write 1.0 (protobuf + snappy);
* :mod:`~archiver.history.provenance` — imported minutes in the scrape log, with their source.

Imports go through the same parser and writer as a scrape, so an imported sample is stored
exactly as a scraped one would be, and a sample already archived is never stored twice.
"""
