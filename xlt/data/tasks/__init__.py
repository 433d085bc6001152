"""Task registry: one entry per dataset — its format, splits, languages, Hub parts and normaliser.

Splits every task provides: `train` (English), `dev` (English, model selection). Target tasks also
provide `test`: every language, used only for zero-shot evaluation."""
from xlt.data.tasks.registry import (HubPart, UrlPart, Task, REGISTRY, register, get_task, intermediate_tasks, target_tasks)  # noqa: F401

# Registration happens on import of each task module.
from xlt.data.tasks import ccg, multiple_choice, nli, paws_x, squad, tydiqa  # noqa: E402,F401
