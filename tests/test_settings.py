import pytest
import torch

from d2lnotes import settings
from d2lnotes.recipe import RECIPES
from d2lnotes.settings import PROFILES, get_profile


def test_full_profile_is_the_seeds_experiment():
    full = PROFILES["full"]
    assert (full.epochs, full.batch_size, full.resize) == (10, 256, 224)
    assert RECIPES["seed"].lr == 0.05  # the notes' learning rate lives in their recipe
    assert (full.train_size, full.test_size) == (60_000, 10_000)


def test_profiles_grow_from_smoke_to_full():
    smoke, quick, full = PROFILES["smoke"], PROFILES["quick"], PROFILES["full"]
    for field in ("train_size", "test_size", "epochs"):
        assert getattr(smoke, field) <= getattr(quick, field) <= getattr(full, field)


@pytest.mark.parametrize("name", ["smoke", "quick", "full", " Quick ", "FULL"])
def test_explicit_names(name):
    assert get_profile(name).name == name.strip().lower()


def test_environment_variable_selects_profile(monkeypatch):
    monkeypatch.setenv(settings.ENV_VAR, "smoke")
    assert get_profile().name == "smoke"


@pytest.mark.parametrize("value", [None, "", "auto"])
def test_auto_means_full_on_cuda_else_quick(monkeypatch, value):
    if value is None:
        monkeypatch.delenv(settings.ENV_VAR, raising=False)
    else:
        monkeypatch.setenv(settings.ENV_VAR, value)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert get_profile().name == "full"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert get_profile().name == "quick"


def test_unknown_profile_lists_valid_names(monkeypatch):
    monkeypatch.setenv(settings.ENV_VAR, "smok")
    with pytest.raises(ValueError) as err:
        get_profile()
    message = str(err.value)
    assert "'smok'" in message and settings.ENV_VAR in message
    for name in ("auto", "smoke", "quick", "full"):
        assert name in message
    with pytest.raises(ValueError, match="from argument"):
        get_profile("huge")


def test_describe_states_actual_and_seed_settings():
    line = PROFILES["quick"].describe("cpu")
    assert line.startswith("profile quick on cpu: resize 28, 6,000/1,000 images, 2 epochs")
    assert line.endswith("\n(the notes: resize 224, 60,000/10,000 images, 10 epochs, batch 256)")
    assert all(len(part) <= 80 for part in line.splitlines())


def test_profiles_are_frozen():
    with pytest.raises(AttributeError):
        PROFILES["full"].epochs = 1
