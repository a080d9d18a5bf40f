"""Reader options as dataclasses (modalities/options.py): every modality checks its options, and a bad
key or value is an InputError naming it, wherever the options come from."""

from __future__ import annotations

import numpy as np
import pytest

from allspark.errors import InputError
from allspark.modalities import all_modalities, get
from allspark.modalities.base import fit_mean_std
from allspark.modalities.hsi import HsiOptions


def test_every_modality_declares_its_options():
    for m in all_modalities():
        assert m.options_class is not None, m.name
        assert m.options({}) == {}


def test_an_unknown_key_names_it_and_lists_the_allowed_ones():
    with pytest.raises(InputError) as e:
        get("hsi").options({"pach": 9})
    assert "'pach'" in str(e.value) and "patch" in str(e.value) and "allowed" in str(e.value)
    with pytest.raises(InputError, match="'tiles'.*allowed: .*tile"):
        get("rgb").options({"tiles": 64})


@pytest.mark.parametrize("modality,options,words", [
    ("hsi", {"patch": "x"}, "'patch' must be a whole number, not 'x'"),
    ("hsi", {"patch": 4}, "'patch' must be an odd number"),
    ("hsi", {"layout": "xyz"}, "'layout' must be one of hwc, chw"),
    ("rgb", {"tile": -5}, "'tile' must be a positive number"),
    ("msi", {"window": [1, 2]}, "'window' must be a window"),
    ("pointcloud", {"points": 0}, "'points' must be at least 1"),
    ("pointcloud", {"heights": "high"}, "'heights' must be a list of numbers"),
    ("table", {"max_rows": 1.5}, "'max_rows' must be a whole number"),
    ("trajectory", {"mode": "every"}, "'mode' must be one of last, all"),
    ("sar", {"log": "maybe"}, "'log' must be true or false"),
])
def test_a_bad_value_names_the_key_and_value(modality, options, words):
    with pytest.raises(InputError, match=words.replace("(", r"\(").replace("[", r"\[")):
        get(modality).options(options)


def test_good_options_come_back_as_keyword_arguments():
    assert get("hsi").options({"patch": 9, "block": 16}) == {"patch": 9, "block": 16}  # a shipped bundle's
    assert get("sar").options({"size": 88}) == {"size": 88}
    assert get("pointcloud").options({"heights": [1, 2.5, 5, 10], "tile": 200.0}) == \
        {"heights": [1, 2.5, 5, 10], "tile": 200.0}
    assert get("hsi").options({"patch": "9", "bands": None}) == {"patch": 9}  # a form's text; None = not set
    assert get("msi").options({"tile": 64, "order": ["B02", "B03"]}) == {"tile": 64, "order": ["B02", "B03"]}


def test_option_dataclasses_check_direct_construction_too():
    assert HsiOptions(patch=9).kwargs() == {"patch": 9}
    assert HsiOptions().kwargs() == {}  # defaults are the readers' own
    with pytest.raises(InputError, match="'step' must be at least 1"):
        HsiOptions(step=0)


def test_a_training_config_with_a_bad_read_option_is_an_input_error():
    from allspark.train import TrainConfig

    base = {"modality": "hsi", "data": "x", "out": "y"}
    with pytest.raises(InputError, match="'pach'"):
        TrainConfig.from_dict({**base, "read_options": {"pach": 9}})
    assert TrainConfig.from_dict({**base, "read_options": {"patch": 9}}).read_options == {"patch": 9}


def test_fit_mean_std_ignores_nan_and_floors_the_std():
    x = np.array([[1.0, 5.0, np.nan], [3.0, 5.0, np.nan], [np.nan, 5.0, np.inf]])
    mean, std = fit_mean_std(x, floor=1e-6)
    assert mean.tolist() == [2.0, 5.0, 0.0] and std.tolist() == [1.0, 1.0, 1.0]
    _, std = fit_mean_std(np.array([[1.0], [1.0]]), floor=1e-6, fallback=None)
    assert std.tolist() == [1e-6]  # clamped (the trainer's regression targets)
    y = np.random.default_rng(0).normal(3, 2, (1000, 4))
    mean, std = fit_mean_std(y)
    assert np.array_equal(mean, y.mean(0)) and np.array_equal(std, y.std(0))  # bit for bit without NaN
