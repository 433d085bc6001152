"""Length-grouped batching: little padding on PAWS-X-like lengths, every example once per epoch."""
import numpy as np
import pandas as pd
import torch

from xlt.resume import BatchStream, padding_fraction
from xlt.training import feature_lengths


def _paws_x_like_lengths(n=49_000, seed=0):
    # PAWS-X sentence pairs: two ~20-25-token sentences (+ separators); right-skewed, ~30-120 tokens
    rng = np.random.default_rng(seed)
    return (2 * rng.lognormal(mean=np.log(22), sigma=0.3, size=n) + 2).astype(int)


def _epoch(stream, n, batch):
    return [stream.next_indices() for _ in range(-(-n // batch))]


def test_length_grouping_cuts_padding_below_ten_percent():
    lengths = _paws_x_like_lengths()
    plain = _epoch(BatchStream(len(lengths), 32, torch.Generator().manual_seed(0)), len(lengths), 32)
    grouped = _epoch(BatchStream(len(lengths), 32, torch.Generator().manual_seed(0), lengths), len(lengths), 32)
    f_plain, f_grouped = padding_fraction(lengths, plain), padding_fraction(lengths, grouped)
    print(f"\npadding fraction on PAWS-X-like lengths, batch 32: random {f_plain:.3f}, length-grouped {f_grouped:.3f}")
    assert f_grouped < 0.10 < f_plain
    assert sorted(np.concatenate(grouped).tolist()) == list(range(len(lengths)))  # each example once


def test_grouped_stream_resumes_from_its_state():
    lengths = _paws_x_like_lengths(1000)
    a = BatchStream(1000, 16, torch.Generator().manual_seed(3), lengths)
    first = [a.next_indices() for _ in range(10)]
    state, gen_state = a.state_dict(), a.generator.get_state()
    rest = [a.next_indices() for _ in range(80)]
    b = BatchStream(1000, 16, torch.Generator(), lengths)
    b.load_state_dict(state)
    b.generator.set_state(gen_state)
    assert all((x == y).all() for x, y in zip(rest, [b.next_indices() for _ in range(80)]))
    assert first


def test_feature_lengths_handle_multiple_choice():
    df = pd.DataFrame({"input_ids": [[1, 2, 3], [4]]})
    assert feature_lengths(df).tolist() == [3, 1]
    mc = pd.DataFrame({"input_ids": [[[1, 2], [1, 2, 3, 4]], [[5], [6]]]})
    assert feature_lengths(mc).tolist() == [4, 1]


def test_training_with_length_grouping_runs_for_every_format(fixtures_dir, tiny_model_dir, tmp_path):
    from xlt.io import read_json
    from xlt.steps import data, train

    for task, fcfg in (("paws_x", {"max_length": 48}), ("hellaswag", {"max_length": 32})):
        feats = str(tmp_path / f"{task}.parquet")
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, feats)
        spec = {"name": task, "train": feats, "dev": feats, "dev_data": str(fixtures_dir / task / "train.parquet")}
        cfg = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 4, "eval_every": 4, "group_by_length": True}
        out = tmp_path / task
        train.fine_tune([spec], str(tiny_model_dir), cfg, 0, str(out / "c"), str(out / "m.json"), str(out / "l.jsonl"))
        assert "accuracy" in read_json(out / "m.json")["metrics"][task]
