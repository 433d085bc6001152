"""Data sources and their pins: the task registry (tasks/), Hub and URL loading, normalised schemas,
provenance records, chance levels per task. The lowest layer above xlt.io."""
