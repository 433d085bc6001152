"""The speed benchmark runs on a CPU at CI size and reports every configuration it promises."""
import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_bench_reports_both_paths_every_variant_eval_and_data_path(tmp_path):
    out = tmp_path / "bench.json"
    proc = subprocess.run([sys.executable, "-m", "xlt.bench.throughput", "--arch", "tiny", "--shapes", "8x32,4x64", "--steps", "1",
                           "--warmup", "1", "--json", str(out)], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(out.read_text())
    rows = result["rows"]
    variants = set(yaml.safe_load((ROOT / "config.yaml").read_text())["variants"])
    for shape in ((8, 32), (4, 64)):
        at = [r for r in rows if (r["batch"], r["seq"]) == shape]
        for path in ("hf-eager", "fast"):
            train = {r["variant"]: r for r in at if r["kind"] == "train" and r["path"] == path}
            assert set(train) == variants and train["standard"]["ratio"] == 1.0
            assert all(r["samples_per_s"] > 0 and r["passes"] >= 1 for r in train.values())
            assert any(r["kind"] == "eval" and r["path"] == path for r in at)
        assert {r["path"] for r in at if r["kind"] == "data"} == {"arrays", "pandas rows"}
    assert result["device"].startswith("CPU") and all(r.get("mfu") is None for r in rows)  # no peak known on a CPU
    assert "samples/s" in proc.stdout and "fast path = SDPA ALiBi" in proc.stdout
