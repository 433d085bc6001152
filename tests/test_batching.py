"""Length-grouped batching: little padding on PAWS-X-like lengths, every example once per epoch."""
import numpy as np
import pandas as pd
import torch

from xlt.train.batching import BatchPlanner, Prefetcher
from xlt.model.formats import classification, get_format, multiple_choice, pad_batch
from xlt.train.resume import BatchStream, padding_fraction


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
    df = pd.DataFrame({"input_ids": [[1, 2, 3], [4]], "label": [0, 1]})
    assert classification.lengths(classification.arrays(df)).tolist() == [3, 1]
    mc = pd.DataFrame({"input_ids": [[[1, 2], [1, 2, 3, 4]], [[5], [6]]], "label": [1, 0]})
    assert multiple_choice.lengths(multiple_choice.arrays(mc)).tolist() == [4, 1]


def _reference_collate(fmt, rows, pad_id, side):
    """The per-row collation the array path replaced (pad_batch over the rows' lists)."""
    if fmt == "multiple_choice":
        flat = [list(seq) for choices in rows["input_ids"] for seq in choices]
        return pad_batch(flat, pad_id, side)
    return pad_batch(rows["input_ids"].tolist(), pad_id, side)


def test_array_batches_equal_row_batches_and_pad_to_buckets(fixtures_dir, tiny_model_dir, tmp_path, tokenizer):
    from xlt.steps import data

    specs = {"classification": ("paws_x", {"max_length": 48}),
             "span_qa": ("squad", {"max_length": 64, "doc_stride": 16, "max_query_length": 16}),
             "multiple_choice": ("hellaswag", {"max_length": 32}), "tagging": ("ccg", {"max_length": 48})}
    rng = np.random.default_rng(0)
    for fmt, (task, fcfg) in specs.items():
        path = tmp_path / f"{task}.parquet"
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, str(path))
        feats = pd.read_parquet(path)
        module, arrays = get_format(fmt), get_format(fmt).arrays(feats)
        sides = ("right", "left") if fmt in ("classification", "multiple_choice") else ("right",)
        for _ in range(5):
            idx = rng.choice(len(feats), size=7, replace=False)
            for side in sides:
                got = module.collate_arrays(arrays, idx, tokenizer.pad_token_id, side)
                ids, mask = _reference_collate(fmt, feats.iloc[idx], tokenizer.pad_token_id, side)
                assert torch.equal(got["input_ids"], ids) and torch.equal(got["attention_mask"], mask)
            bucketed = module.collate_arrays(arrays, idx, tokenizer.pad_token_id, multiple_of=64)
            assert bucketed["input_ids"].shape[1] % 64 == 0
            width = got["input_ids"].shape[1]
            assert torch.equal(bucketed["attention_mask"][:, :width], module.collate_arrays(
                arrays, idx, tokenizer.pad_token_id)["attention_mask"])
            assert not bucketed["attention_mask"][:, width:].any()
            if fmt == "tagging":  # labels follow the tokens; padding carries the ignore index
                ref = feats.iloc[idx]["label_ids"].tolist()
                for row, lab in zip(bucketed["labels"], ref):
                    assert row[:len(lab)].tolist() == list(lab) and (row[len(lab):] == -100).all()


def test_planned_batches_are_the_unplanned_draws_and_resume_exactly():
    """Drawing ahead does not change which batches come, in which order; a saved plan continues exactly."""
    lengths = _paws_x_like_lengths(500)

    def make():
        g = torch.Generator().manual_seed(5)
        streams = {"a": BatchStream(500, 8, g, lengths), "b": BatchStream(300, 8, g)}
        return streams, g

    streams, g = make()
    probs = torch.tensor([0.7, 0.3])
    unplanned = []
    for _ in range(120):
        name = ["a", "b"][int(torch.multinomial(probs, 1, generator=g))]
        unplanned.append((name, streams[name].next_indices()))
    streams, g = make()
    planner = BatchPlanner(["a", "b"], probs, streams, g, ahead=4)
    fetch = Prefetcher(planner, lambda name, idx: {"idx": torch.as_tensor(idx)}, pin=False)
    got = [(n, b["idx"].numpy()) for n, b in (fetch.get() for _ in range(60))]
    state = (planner.state_dict(), {k: s.state_dict() for k, s in streams.items()}, g.get_state())
    later = [(n, b["idx"].numpy()) for n, b in (fetch.get() for _ in range(60))]
    fetch.close()
    assert [(n, i.tolist()) for n, i in got + later] == [(n, i.tolist()) for n, i in unplanned]
    streams2, g2 = make()
    g2.set_state(state[2])
    for k, s in streams2.items():
        s.load_state_dict(state[1][k])
    planner2 = BatchPlanner(["a", "b"], probs, streams2, g2, ahead=4)
    planner2.load_state_dict(state[0])
    resumed = [planner2.next() for _ in range(60)]
    assert [(n, i.tolist()) for n, i in resumed] == [(n, i.tolist()) for n, i in later]


def test_training_with_length_grouping_runs_for_every_format(fixtures_dir, tiny_model_dir, tmp_path):
    from xlt.io import read_json
    from xlt.steps import data, train

    for task, fcfg in (("paws_x", {"max_length": 48}), ("hellaswag", {"max_length": 32})):
        feats = str(tmp_path / f"{task}.parquet")
        data.featurize(task, str(fixtures_dir / task / "train.parquet"), str(tiny_model_dir), fcfg, feats)
        spec = {"name": task, "train": feats, "dev": feats, "dev_data": str(fixtures_dir / task / "train.parquet")}
        cfg = {"learning_rate": 1e-3, "batch_size": 8, "max_steps": 4, "eval_every": 4, "group_by_length": True}
        out = tmp_path / task
        train.fine_tune_tasks([spec], str(tiny_model_dir), cfg, 0, str(out / "c"), str(out / "m.json"), str(out / "l.jsonl"))
        assert "accuracy" in read_json(out / "m.json")["metrics"][task]
