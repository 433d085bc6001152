# The config itself, not params: amending the config afterwards must not rewrite the declaration.
from xlt.preregistration import write

write(snakemake.config, snakemake.output[0])
