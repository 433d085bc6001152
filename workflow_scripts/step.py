# The workflow script of every rule: runs the step its params name (step="xlt.steps.<module>:<function>")
# with the rule's own input, output and params names as keyword arguments (xlt/workflow/runner.py).
from xlt.workflow import runner

runner.run(snakemake)
