"""``omega optimize``'s study storage: Optuna's journal in one Redis list, on a real Valkey.

The same backend runs on Sentinel and Cluster: see ``test_sentinel.py`` and ``test_cluster.py``
(``check_shared_study`` is their common check).
"""

from __future__ import annotations

import threading
import uuid
import warnings
from typing import Any

import pytest
from pydantic import SecretStr

from omegafarm.store import RedisSettings
from omegafarm.store.keys import Keys
from omegafarm.store.optuna_journal import journal_storage, study_client

optuna = pytest.importorskip("optuna")


def _objective(trial: Any) -> float:
    x = trial.suggest_int("x", -10, 10)
    return float((x - 3) ** 2)


def check_shared_study(settings: RedisSettings, per_process: int = 6) -> None:
    """Two clients (as two machines would) optimise one study at once: every trial lands once,
    numbered without gaps, and both read the same study back."""
    study = "s" + uuid.uuid4().hex[:8]
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            with study_client(settings) as client:
                storage = journal_storage(client, settings.farm, study)
                found = optuna.create_study(study_name=study, storage=storage, load_if_exists=True)
                found.optimize(_objective, n_trials=per_process)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    views = []
    for _ in range(2):
        with study_client(settings) as client:
            loaded = optuna.load_study(
                study_name=study, storage=journal_storage(client, settings.farm, study)
            )
            views.append(loaded.get_trials(deepcopy=False))
    numbers = [t.number for t in views[0]]
    assert sorted(numbers) == list(range(2 * per_process))
    assert all(t.state == optuna.trial.TrialState.COMPLETE for t in views[0])
    assert [(t.number, t.params, t.value) for t in views[0]] == [
        (t.number, t.params, t.value) for t in views[1]
    ]


def _settings(redis_url: str) -> RedisSettings:
    return RedisSettings(url=SecretStr(redis_url), farm="o" + uuid.uuid4().hex[:8])


def test_two_clients_share_one_study_on_one_server(redis_url: str) -> None:
    check_shared_study(_settings(redis_url))


def test_the_journal_is_one_list_and_no_pickle_snapshot(redis_url: str) -> None:
    settings = _settings(redis_url)
    with study_client(settings) as client:
        storage = journal_storage(client, settings.farm, "plain")
        optuna.create_study(study_name="plain", storage=storage).optimize(_objective, n_trials=3)
        prefix = Keys(settings.farm).optuna_study("plain")
        assert sorted(k.decode() for k in client.scan_iter(f"{prefix}*")) == [f"{prefix}:journal"]
        assert client.type(f"{prefix}:journal") == b"list"


def test_a_study_written_by_optunas_own_backend_is_adopted_and_resumes(redis_url: str) -> None:
    from optuna.storages.journal import JournalRedisBackend, JournalStorage

    settings = _settings(redis_url)
    prefix = Keys(settings.farm).optuna_study("old")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        old = JournalStorage(JournalRedisBackend(redis_url, prefix=prefix))
    optuna.create_study(study_name="old", storage=old).optimize(_objective, n_trials=4)
    before = [(t.number, t.params) for t in optuna.load_study(study_name="old", storage=old).trials]
    with study_client(settings) as client:
        storage = journal_storage(client, settings.farm, "old")
        resumed = optuna.load_study(study_name="old", storage=storage)
        assert [(t.number, t.params) for t in resumed.trials] == before
        resumed.optimize(_objective, n_trials=2)
    with study_client(settings) as client:  # opened again: adopted once, not copied twice
        again = optuna.load_study(
            study_name="old", storage=journal_storage(client, settings.farm, "old")
        )
        assert [t.number for t in again.trials] == list(range(6))
