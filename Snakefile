# Does (adversarial) English intermediate-task training improve zero-shot cross-lingual transfer of
# Bloom? Study: `snakemake --cores 8 all`; offline demo: `snakemake --cores 2 --configfile config/demo.yaml`.
# All logic lives in the `xlt` package; rules/ only wire artifacts together.
import os

from snakemake.utils import min_version

min_version("9.0")

if not config:  # `--configfile X` replaces the study config instead of being merged into it
    configfile: os.path.join(workflow.basedir, "config.yaml")


report: "report/workflow.rst"


include: "rules/common.smk"
include: "rules/data.smk"
include: "rules/selection.smk"
include: "rules/calibration.smk"
include: "rules/intermediate.smk"
include: "rules/target.smk"
include: "rules/report.smk"
include: "rules/pilot.smk"


rule all:
    input:
        "results/matrix.parquet",
        "results/matrix.csv",
        "results/report/summary.md",
        rules.figures.output,
        rules.training_curves.output,
        rules.report_pages.output,  # what `snakemake --report` shows: the answer and tables as HTML
        # every model's first wave, named here so that no model's jobs wait for another model's interim
        # look (an input function that meets an unfinished checkpoint yields nothing else until it is done)
        first_wave=lambda wc: run_eval_files(target_runs_made(1), "metrics"),
        pilot=rules.pilot_report.output.json if PILOT else [],  # a pilot's report (rules/pilot.smk)
    default_target: True


onstart:
    # a deleted declaration (results/preregistration.json, written by the first evaluation) is made anew
    # when the next run with jobs starts, marked as made after results existed
    from xlt.workflow.plan import eval_metric_files

    if not os.path.exists(PREREGISTRATION) and any(os.path.exists(p) for p in eval_metric_files(config)):
        preregistration.write(config, PREREGISTRATION, after_results=True)


onsuccess:
    from xlt.analysis.matrix import format_pivot
    from xlt.analysis.pages import report_command

    if os.path.exists("results/matrix.parquet"):
        print("\nZero-shot results (mean over seeds, points), results/matrix.parquet:\n")
        print(format_pivot("results/matrix.parquet"))
    if os.path.exists("results/report/summary.md"):
        # the command as it works after this run: the demo's --configfile named (the default config is the study)
        command = report_command(workflow.main_snakefile, workflow.overwrite_configfiles, os.getcwd(),
                                 os.environ.get("PWD"))
        print("\nAnswer and tables: results/report/summary.md; figures: results/report/figures/ (PNG and PDF); "
              f"HTML report: {command}")
