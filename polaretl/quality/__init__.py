"""Data quality in depth, over the records: quarantine export and replay, lineage.

- `corrections`: the export layout of quarantined records (one column per raw field)
  and the corrected records a replay reads back;
- `replay`: re-ingest corrected records through the pipeline's contract, transforms and
  loader, as a run of its own (``NAME:replay``);
- `lineage`: where a loaded row came from (run, source position, quarantine origin);
- `report`: what `polaretl show` adds about a run (schema changes, duplicates, replay).
"""
