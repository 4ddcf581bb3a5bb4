"""Data quality in depth, over the records: quarantine export and correction, lineage.

- `corrections`: the export layout of quarantined records (one column per raw field),
  and which records a replay runs with which corrections;
- `extractor`: `QuarantineExtractor`, the pending records as a source: what a replay
  (`polaretl.run.replay`, a run of its own, ``NAME:replay``) reads;
- `lineage`: where a loaded row came from (run, source position, quarantine origin);
- `report`: what `polaretl show` adds about a run (schema changes, duplicates, replay).
"""
