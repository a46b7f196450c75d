import pytest

from wildfer.cli import main
from wildfer.config import TrainConfig, load_config, save_config
from wildfer.errors import ConfigError


def test_yaml_and_overrides(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\noptim:\n  lr: 0.01\naugment:\n  multires: [8, 256]\n")
    cfg = load_config(p, ["optim.lr=1e-4", "epochs=3", "model.name=vgg16_fc"])
    assert isinstance(cfg, TrainConfig)
    assert cfg.optim.lr == 1e-4 and cfg.epochs == 3 and cfg.model.name == "vgg16_fc"
    assert cfg.augment.multires == (8, 256)
    save_config(cfg, tmp_path / "resolved.yaml")
    assert load_config(tmp_path / "resolved.yaml") == cfg


@pytest.mark.parametrize("text, match", [
    ("optim:\n  lrr: 0.1\n", "unknown key optim.lrr"),
    ("epochs: ten\n", "epochs: expected an integer"),
    ("optim:\n  lr: [1]\n", "optim.lr: expected a number"),
    ("augment:\n  multires: [8]\n", "augment.multires"),
    ("- a\n- b\n", "mapping"),
    ("a: [\n", "not valid YAML"),
])
def test_bad_config_names_the_key_and_file(tmp_path, text, match):
    p = tmp_path / "bad.yaml"
    p.write_text(text)
    with pytest.raises(ConfigError, match=match) as e:
        load_config(p)
    assert "bad.yaml" in str(e.value)


def test_cli_reports_config_error_without_traceback(tmp_path, capsys):
    p = tmp_path / "bad.yaml"
    p.write_text("optim:\n  lrr: 0.1\n")
    assert main(["train", str(p)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("wildfer: error:") and "bad.yaml" in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1
