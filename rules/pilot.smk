# A pilot (config/pilot.yaml, `make pilot`): the study's rules on a small cut, then a report of what its
# jobs measured — tokens per minute per variant, peak GPU memory, job overhead — and the English-dev learning
# checks declared under pilot.checks; the report job fails naming each check that failed
# (xlt/workflow/pilot.py, xlt/analysis/pilot.py). `python -m xlt.analysis.planning --pilot
# results/pilot/report.json` re-prices the study with the measured throughput.

PILOT = "pilot" in config


if PILOT:

    rule pilot_report:
        input:
            pilot.report_inputs(config),
        output:
            json="results/pilot/report.json",
            md="results/pilot/report.md",
        params:
            **step("xlt.steps.pilot:pilot_report"),
            jobs=pilot.training_jobs(config),
            checks=pilot.checks(config),
            identity=pilot.identity(config),
            passes={v: expected_cost(block) for v, block in config["variants"].items()},
            overhead=cluster.OVERHEAD,
        log:
            "results/logs/pilot_report/all.log",
        benchmark:
            "results/benchmarks/pilot_report/all.tsv"
        conda:
            "../envs/analysis.yaml"
        script:
            "../workflow_scripts/step.py"


    # `make pilot`: the pilot's jobs and its report, not the study's statistics (one seed decides nothing)
    rule pilot:
        input:
            rules.pilot_report.output,
        localrule: True
