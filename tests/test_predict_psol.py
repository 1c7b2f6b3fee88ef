"""predict_psol, the stage of the rules predict_localizer and predict_classifier: its settings section
(predict_psol) decides the test size (null = the model's training crop), batch and loader processes."""

import pandas as pd
import pytest

from c2am.data.readers import read_cub
from c2am.io import read_parquet_meta
from c2am.settings import LocalizerTrainSettings
from c2am.training.supervised import train_pooled
from stages.predict_psol import parser, run

TINY = {"epochs": 1, "batch_size": 4, "crop": 64, "workers": 0, "lr": 0.01}


@pytest.fixture(scope="module")
def records(demo_root):
    return read_cub(demo_root / "CUB_200_2011", split="train")[:8]


def test_predict_psol_runs_at_the_training_crop_unless_predict_psol_test_size_says_otherwise(tmp_path, init, records,
                                                                                            demo_root):
    """predict_psol.test_size null (the default) is the model's training crop; a number replaces it; the batch
    size and loader processes change nothing in what is written."""
    s = LocalizerTrainSettings.from_dict(TINY)
    train_pooled("localizer", records, [r.boxes[0] for r in records], init, s, tmp_path / "m.pt", tmp_path / "ck.pt",
                 tmp_path / "log.jsonl", "cpu", progress=False)
    given = ["--model", str(tmp_path / "m.pt"), "--dataset-format", "cub", "--dataset-root",
             str(demo_root / "CUB_200_2011"), "--split", "test", "--device", "cpu", "--no-progress"]

    def predict(name, *flags):
        run(parser().parse_args([*given, "--out", str(tmp_path / name), *flags]))
        return read_parquet_meta(tmp_path / name)["settings"]["test_size"], pd.read_parquet(tmp_path / name)

    crop, at_crop = predict("crop.parquet")
    same, batched = predict("batched.parquet", "--batch-size", "3", "--workers", "0", "--test-size", "64")
    other, at_48 = predict("48.parquet", "--test-size", "48")
    assert (crop, same, other) == (64, 64, 48)
    box = ["x0", "y0", "x1", "y1"]
    assert at_crop[box].to_numpy() == pytest.approx(batched[box].to_numpy(), abs=1e-3)
    assert not at_crop[box].equals(at_48[box])
