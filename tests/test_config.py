import dataclasses

import pytest

from saerl.config import ConfigError, SaerlConfig, flat_dict, load_experiment, to_dict


def test_defaults_load_without_a_file():
    cfg = load_experiment()
    assert isinstance(cfg, SaerlConfig)
    assert cfg.data.source == "arith"


def test_yaml_then_overrides_take_precedence(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ndata:\n  arith:\n    n_train: 50\n    noise_rate: 0.2\n")
    cfg = load_experiment(path, ["data.arith.n_train=70"])
    assert cfg.seed == 3
    assert cfg.data.arith.n_train == 70
    assert cfg.data.arith.noise_rate == 0.2


def test_unknown_key_is_named_with_a_suggestion():
    with pytest.raises(
        ConfigError, match=r"unknown key data\.arith\.n_trian \(did you mean data\.arith\.n_train\?\)"
    ):
        load_experiment(overrides=["data.arith.n_trian=5"])


def test_unknown_key_in_file_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("modles: {}\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: unknown key modles"):
        load_experiment(path)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("models.sft.steps=abc", r"models\.sft\.steps: expected an integer, got 'abc'"),
        ("models.sft.lr=[1]", r"models\.sft\.lr: expected a number"),
        ("data.grader=fuzzy", r"data\.grader: expected one of \['auto', 'int', 'math'\]"),
        ("data.arith.topics=addition", r"data\.arith\.topics: expected a list"),
        ("models.sft.steps=true", r"models\.sft\.steps: expected an integer"),
    ],
)
def test_wrong_type_names_the_key(override, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(overrides=[override])


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (["data.arith.sft_max_digits=3", "data.arith.max_digits=2"], r"data\.arith: sft_max_digits"),
        (["data.arith.noise_rate=1.5"], r"data\.arith\.noise_rate: expected"),
        (["data.arith.topics=[addition, algebra]"], r"data\.arith\.topics: \['algebra'\]"),
        (["models.build=[gpt-xl]"], r"models\.build: \['gpt-xl'\] not in family"),
        (["sae.batch_size_tokens=0"], r"sae\.batch_size_tokens: expected 1 <= batch_size_tokens, got 0"),
        (["activations.batch_size=0"], r"activations\.batch_size: expected 1 <="),
        (["rl.gradient_accumulation_steps=0"], r"rl\.gradient_accumulation_steps: expected 1 <="),
        (["rl.lr=-1"], r"rl\.lr: expected 0 < lr, got -1\.0"),
        (["signals.difficulty.test_fraction=1"], r"signals\.difficulty\.test_fraction: expected 0 <"),
        (["models.family=[{name: a, arch: qwen2, hidden_size: 0}]"], r"hidden_size: expected 1 <="),
        (["device=tpu"], r"device: expected"),
    ],
)
def test_bad_values_and_combinations_fail_naming_the_key(overrides, message):
    with pytest.raises(ConfigError, match=message):
        load_experiment(overrides=overrides)


def test_family_from_yaml_builds_specs_and_rejects_bad_ones(tmp_path):
    path = tmp_path / "fam.yaml"
    path.write_text(
        "models:\n  family:\n    - {name: a, arch: qwen2, hidden_size: 64, num_heads: 2}\n"
        "    - {name: b, arch: gpt2}\n"
    )
    with pytest.raises(ConfigError, match=r"models\.family\[1\]\.arch: expected one of \['qwen2', 'llama'\]"):
        load_experiment(path)
    path.write_text("models:\n  family:\n    - {name: a, arch: qwen2, hidden_size: 64, num_heads: 2}\n")
    cfg = load_experiment(path)
    assert cfg.models.family[0].hidden_size == 64
    assert cfg.models.selected()[0].name == "a"


def test_scientific_notation_is_a_number():
    assert load_experiment(overrides=["rl.lr=3e-5"]).rl.lr == 3e-5
    with pytest.raises(ConfigError, match=r"rl\.lr: expected a number, got 'fast'"):
        load_experiment(overrides=["rl.lr=fast"])


def test_config_is_read_only():
    cfg = load_experiment()
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 1  # type: ignore[misc]


def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match=r"missing\.yaml: cannot read config file"):
        load_experiment(tmp_path / "missing.yaml")
    bad = tmp_path / "list.yaml"
    bad.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: top level must be a mapping"):
        load_experiment(bad)


def test_to_dict_round_trips_through_the_loader(tmp_path):
    import yaml

    cfg = load_experiment(overrides=["models.sft.steps=7", "data.arith.topics=[addition]"])
    path = tmp_path / "resolved.yaml"
    path.write_text(yaml.safe_dump(to_dict(cfg)))
    assert load_experiment(path) == cfg
    assert flat_dict(cfg)["models.sft.steps"] == 7
