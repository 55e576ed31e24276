"""`zoo tune` and `zoo sweep`: studies of ordinary runs on mocked TFDS with tiny models: default
and user spaces, pruning, kill-and-resume with real signals, two workers sharing a journal,
two processes sharing a real PostgreSQL server, and every bad input as one line."""

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers import PROJECT, assert_one_line_error, tree, zoo, zoo_json

LAUNCHER = [sys.executable, str(PROJECT / "tests" / "mocked_zoo.py"), "24"]
TINY = ("--set", "model.hidden_units=[8]", "--batch-size", "8")


def _tune(*extra):
    return ("tune", "mlp", "-d", "mnist", "--data-dir", "tfds", *TINY, *extra)


def _config(run_dir: Path) -> dict:
    return json.loads((run_dir / "config.json").read_text())


def _value(config: dict, name: str):
    """A drawn parameter's value in a run's config.json (model.KEY is in model_config)."""
    group, _, key = name.partition(".")
    if group == "model" and key:
        return config["model_config"][key]
    return config[name]


def _states(out: dict) -> dict:
    return out["states"]


def test_default_space_trials_are_ordinary_runs_and_the_best_is_tested_once(mock_tfds, workdir):
    out = zoo_json(*_tune("--smoke", "--trials", "2", "--study", "s"))
    assert _states(out) == {"complete": 2}
    folder = Path("runs/s")
    assert {p.name for p in folder.glob("trial-*")} == {"trial-0000", "trial-0001"}
    space = {p.split("=")[0] for p in out["space"]}
    assert {"learning_rate", "weight_decay", "label_smoothing"} <= space  # mlp's declared space
    for t in out["trials"]:
        config = _config(Path(t["run"]))
        for name, value in t["params"].items():  # config.json says which values were drawn
            assert _value(config, name) == value
        record = json.loads((Path(t["run"]) / "run.json").read_text())
        assert record["status"] == "finished"
        metrics = json.loads((Path(t["run"]) / "metrics.json").read_text())
        assert "test_accuracy" not in metrics  # trials never touch the test split
        assert metrics["val_accuracy"] == t["value"]
    best = out["best"]
    assert best["test"]["number"] == best["number"] and 0 <= best["test"]["test_accuracy"] <= 1
    assert best["command"].startswith("zoo train mlp -d mnist")
    assert "--smoke" in best["command"] or "smoke" in best["command"]
    assert Path("runs/s/study.log").is_file() and Path("runs/s/study.json").is_file()
    record = json.loads(Path("runs/s/study.json").read_text())
    assert record["base"]["data_dir"] == "tfds"  # what a worker process reads the study from
    assert Path("runs/s/optimization_history.png").is_file()

    again = zoo_json(*_tune("--smoke", "--trials", "2", "--study", "s"))  # nothing left to do
    assert _states(again) == {"complete": 2} and again["best"]["test"] == best["test"]


def test_user_space_varies_only_the_searched_keys(mock_tfds, workdir):
    out = zoo_json(*_tune("--smoke", "--trials", "2", "--study", "u", "--lr", "0.002",
                          "--param", "model.dropout=0.0..0.5", "--param", "optimizer=adam,sgd"))  # fmt: skip
    assert out["space"] == ["model.dropout=0.0..0.5", "optimizer=adam,sgd"]
    configs = [_config(Path(t["run"])) for t in out["trials"]]
    for t, c in zip(out["trials"], configs):
        assert c["model_config"]["dropout"] == t["params"]["model.dropout"]
        assert 0.0 <= c["model_config"]["dropout"] <= 0.5
        assert c["optimizer"] == t["params"]["optimizer"]
        assert c["learning_rate"] == 0.002  # the study's base config, from the flag
    a, b = configs
    differ = {k for k in a if a[k] != b[k]} - {"model_config", "optimizer"}
    assert not differ, differ


def test_space_file_and_show_formats(mock_tfds, workdir):
    Path("space.yaml").write_text("lr: log:1e-4..1e-2\noptimizer: [adam, sgd]\n")
    zoo_json(*_tune("--smoke", "--trials", "2", "--study", "f", "--space", "space.yaml"))
    shown = json.loads(zoo("tune", "show", "f", "--format", "json").stdout)
    assert shown == zoo_json("tune", "show", "f")
    assert shown["space"] == ["learning_rate=log:0.0001..0.01", "optimizer=adam,sgd"]
    csv_text = zoo("tune", "show", "f", "--format", "csv").output
    assert csv_text.splitlines()[0].startswith("number,state,learning_rate,optimizer,value")
    assert len(csv_text.strip().splitlines()) == 3
    md = zoo("tune", "show", "runs/f", "--format", "markdown").output
    assert md.startswith("| trial | state |")
    table = zoo("tune", "show", "f").output
    assert "best: trial" in table and "reproduce: zoo train mlp" in table


def test_a_pruned_trial_stops_at_the_epoch_boundary(mock_tfds, workdir, monkeypatch):
    """A pruner that stops every trial at its first report: the run keeps that epoch's
    state, is marked pruned, and the study counts the trial as pruned."""
    import optuna

    from zoo.tune import study

    monkeypatch.setattr(
        study, "pruner", lambda spec: optuna.pruners.ThresholdPruner(lower=1.5, n_warmup_steps=0)
    )
    out = zoo_json(*_tune("--epochs", "3", "--trials", "1", "--study", "p",
                          "--param", "lr=log:1e-3..1e-2"))  # fmt: skip
    assert _states(out) == {"pruned": 1} and out["best"] is None  # stopped at epoch 1 of 3
    run = Path(out["trials"][0]["run"])
    assert json.loads((run / "run.json").read_text())["status"] == "pruned"
    assert len((run / "history.csv").read_text().strip().splitlines()) == 2  # header + epoch 1
    assert json.loads((run / "checkpoints" / "state.json").read_text())["epoch"] == 1
    rows = zoo_json("runs", "--runs-dir", "runs/p")
    assert rows[0]["status"] == "pruned"


def test_the_last_epoch_is_never_pruned(mock_tfds, workdir, monkeypatch):
    import optuna

    from zoo.tune import study

    monkeypatch.setattr(
        study, "pruner", lambda spec: optuna.pruners.ThresholdPruner(lower=1.5, n_warmup_steps=0)
    )
    out = zoo_json(*_tune("--epochs", "1", "--trials", "1", "--study", "q",
                          "--param", "lr=log:1e-3..1e-2"))  # fmt: skip
    assert _states(out) == {"complete": 1}


def test_the_default_pruner_is_the_median_after_a_warm_up():
    import optuna

    from zoo.tune import study
    from zoo.tune.study import StudySpec

    spec = StudySpec("s", "tune", "mlp", "mnist", (), base={"epochs": 10})
    median = study.pruner(spec)
    assert isinstance(median, optuna.pruners.MedianPruner)
    assert (median._n_startup_trials, median._n_warmup_steps) == (3, 2)  # never at epoch 1
    hyperband = study.pruner(StudySpec("s", "tune", "mlp", "mnist", (), prune="hyperband"))
    assert isinstance(hyperband, optuna.pruners.HyperbandPruner)
    assert isinstance(study.pruner(StudySpec("s", "sweep", "mlp", "mnist", ())),
                      optuna.pruners.NopPruner)  # fmt: skip


def test_a_study_with_another_space_is_refused_and_nothing_is_written(mock_tfds, workdir):
    zoo_json(*_tune("--epochs", "2", "--trials", "3", "--study", "m", "--lr", "0.01",
                    "--param", "optimizer=adam"))  # fmt: skip
    before = tree(Path("runs/m"))
    result = zoo(*_tune("--epochs", "2", "--trials", "4", "--study", "m", "--lr", "0.01",
                        "--param", "optimizer=adam,sgd"), ok=False)  # fmt: skip
    assert_one_line_error(result, "study m exists with another space", "--resume m", "--study")
    assert tree(Path("runs/m")) == before


def _wait(predicate, timeout=180, proc=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"process ended early: {proc.poll()}")
        time.sleep(0.05)
    raise AssertionError("timed out")


def _env(tmp_path):
    return {**os.environ, "ZOO_RUNS_DIR": str(tmp_path / "runs"), "TF_CPP_MIN_LOG_LEVEL": "3",
            "ZOO_LAUNCHER": json.dumps(LAUNCHER)}  # fmt: skip


def _study_cli(tmp_path, *extra):
    return [*LAUNCHER, *_tune(*extra)[:4], "--data-dir", str(tmp_path / "tfds"), *TINY, *_tune()[8:],
            *extra]  # fmt: skip


def _history_rows(run: Path) -> int:
    path = run / "history.csv"
    return len(path.read_text().strip().splitlines()) - 1 if path.exists() else 0


@pytest.mark.parametrize("signum", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_study_continues_where_it_stopped(signum, tmp_path):
    args = [*LAUNCHER, *_tune("--epochs", "3", "--trials", "2", "--study", "k",
                              "--param", "lr=log:1e-3..1e-2")]  # fmt: skip
    args[args.index("tfds")] = str(tmp_path / "tfds")
    env = _env(tmp_path)
    run0 = tmp_path / "runs" / "k" / "trial-0000"
    proc = subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        _wait(lambda: _history_rows(run0) >= 1, proc=proc)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    if signum == signal.SIGTERM:
        assert proc.returncode == 143
        assert "Continue with the same command" in err.strip().splitlines()[-1]
    else:
        assert proc.returncode == -signal.SIGKILL
    done_before = _history_rows(run0)

    again = subprocess.run([*args, "--json"], env=env, cwd=tmp_path, capture_output=True,
                           text=True, timeout=300)  # fmt: skip
    assert again.returncode == 0, again.stderr[-3000:]
    out = json.loads(again.stdout)
    trials = {t["number"]: t for t in out["trials"]}
    assert trials[0]["state"] == "fail" and trials[0]["note"].startswith("retried as 1")
    assert trials[1]["state"] == "complete" and trials[1]["note"] == "resumes 0"
    assert trials[1]["run"].endswith("trial-0000") and trials[1]["params"] == trials[0]["params"]
    assert trials[2]["state"] == "complete" and trials[2]["run"].endswith("trial-0002")
    assert out["states"] == {"fail": 1, "complete": 2}  # --trials 2: the retry counted once
    epochs = [line.split(",")[0] for line in (run0 / "history.csv").read_text().splitlines()[1:]]
    assert epochs == ["0", "1", "2"]  # resumed from its saved epoch, no epoch trained twice
    assert done_before >= 1
    assert trials[2]["params"] != trials[0]["params"], "a continued study draws new values"


def test_two_workers_share_a_journal_study(tmp_path):
    args = [*LAUNCHER, *_tune("--smoke", "--trials", "4", "--study", "w", "--workers", "2",
                              "--prune", "none", "--param", "lr=log:1e-3..1e-2", "--json")]  # fmt: skip
    args[args.index("tfds")] = str(tmp_path / "tfds")
    done = subprocess.run(args, env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True,
                          timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    assert out["states"] == {"complete": 4}
    runs = [t["run"] for t in out["trials"]]
    assert len(set(runs)) == 4
    pids = set()
    for run in runs:
        pids.add(json.loads((Path(run) / "run.json").read_text())["pid"])
    assert len(pids) == 2, "both workers trained trials"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pg_bin() -> Path | None:
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        if (root / "initdb").exists():
            return root
    return None


@pytest.fixture
def postgres(tmp_path):
    """A throw-away PostgreSQL cluster on a free port of 127.0.0.1, removed afterwards."""
    pg = _pg_bin()
    if pg is None:
        pytest.skip("PostgreSQL server binaries absent (Debian's postgresql package)")
    pytest.importorskip("psycopg2")
    data = Path(f"/tmp/zoo-pg-{os.getpid()}-{_free_port()}")
    data.mkdir()
    port = _free_port()
    as_user = []
    if os.geteuid() == 0:  # the server refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]

    def run(*cmd):
        return subprocess.run([*as_user, *cmd], capture_output=True, text=True, timeout=120,
                              check=True)  # fmt: skip

    try:
        run(str(pg / "initdb"), "-D", str(data / "db"), "-U", "zoo", "--auth=trust")
        run(str(pg / "pg_ctl"), "-D", str(data / "db"), "-l", str(data / "log"), "-w", "-o",
            f"-p {port} -k {data} -c listen_addresses=127.0.0.1", "start")  # fmt: skip
        run(str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "zoo", "studies")
        yield f"postgresql://zoo:secret@127.0.0.1:{port}/studies"
    finally:
        subprocess.run([*as_user, str(pg / "pg_ctl"), "-D", str(data / "db"), "-m", "immediate",
                        "stop"], capture_output=True, check=False)  # fmt: skip
        shutil.rmtree(data, ignore_errors=True)


def test_two_machines_share_a_postgresql_study(postgres, tmp_path):
    """Two processes with their own runs folders (two machines) and one database: both finish,
    every trial is trained once, none is lost."""
    procs = []
    for machine in ("a", "b"):
        args = [*LAUNCHER, *_tune("--smoke", "--trials", "4", "--study", "pg", "--storage",
                                  postgres, "--prune", "none", "--param", "lr=log:1e-3..1e-2",
                                  "--json")]  # fmt: skip
        args[args.index("tfds")] = str(tmp_path / "tfds")
        env = {**_env(tmp_path), "ZOO_RUNS_DIR": str(tmp_path / machine)}
        procs.append(subprocess.Popen(args, env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))  # fmt: skip
    for p in procs:
        _, err = p.communicate(timeout=400)
        assert p.returncode == 0, err[-3000:]
    # Read the study as it ended (each process's own summary may show the other's last trial
    # still running).
    shown = subprocess.run([*LAUNCHER, "tune", "show", str(tmp_path / "a" / "pg"), "--storage",
                            postgres, "--json"], capture_output=True, text=True, timeout=120,
                           env=_env(tmp_path), check=False)  # fmt: skip
    assert shown.returncode == 0, shown.stderr[-2000:]
    final = json.loads(shown.stdout)
    assert final["states"] == {"complete": 4}, final["states"]
    numbers = [t["number"] for t in final["trials"]]
    assert len(numbers) == len(set(numbers)) == 4
    trained = [p.name for m in ("a", "b") for p in (tmp_path / m / "pg").glob("trial-*")]
    assert sorted(trained) == [f"trial-{n:04d}" for n in range(4)], "each trial trained once"
    assert "secret" not in (tmp_path / "a" / "pg" / "study.json").read_text()


def test_sweep_runs_the_grid_and_reports_per_value(mock_tfds, workdir):
    out = zoo_json("sweep", "mlp", "-d", "mnist", "--data-dir", "tfds", *TINY, "--smoke",
                   "--seeds", "0,1", "--param", "label_smoothing=0.0,0.1")  # fmt: skip
    assert out["kind"] == "sweep" and out["states"] == {"complete": 4}
    grid = {(t["params"]["seed"], t["params"]["label_smoothing"]) for t in out["trials"]}
    assert grid == {(0, 0.0), (0, 0.1), (1, 0.0), (1, 0.1)}
    per = {(r["param"], r["value"]): r for r in out["per_value"]}
    assert per[("seed", 0)]["trials"] == 2 and per[("label_smoothing", 0.1)]["trials"] == 2
    for row in out["per_value"]:
        assert row["min"] <= row["median"] <= row["max"]
    assert "median" in zoo("tune", "show", out["study"]).output


@pytest.mark.parametrize(
    "extra,needles",
    [
        (["--param", "lerning_rate=0.1..0.2"], ["unknown parameter", "did you mean learning_rate"]),
        (["--param", "lr=0.1..0.01"], ["low 0.1 must be below high 0.01"]),
        (["--param", "lr=log:0..0.1"], ["a log range must be above 0"]),
        (["--param", "lr=0.001..20"], ["learning_rate must be in (0.0, 10.0]"]),
        (["--param", "model.dropout=0.0..1.5"], ["model.dropout must be in"]),
        (["--param", "model.dropuot=0.1..0.2"], ["unknown architecture key", "dropout"]),
        (["--param", "optimizer=adam,lion"], ["optimizer", "lion"]),
        (["--param", "epochs=1,2"], ["epochs is not searched"]),
        (["--param", "lr"], ["--param expects NAME=SPEC"]),
        (["--storage", "redis://localhost/0"], ["unknown scheme 'redis'"]),
        (["--storage", "postgresql://u:hunter2@127.0.0.1:1/x"], ["cannot reach the study database",
                                                                 "u:***@127.0.0.1:1"]),
        (["--workers", "0"], ["--workers 0"]),
        (["--trials", "0"], ["--trials 0"]),
        (["--metric", "val_acuracy"], ["--metric val_acuracy", "did you mean val_accuracy"]),
        (["--metric", "test_accuracy"], ["never searched on"]),
        (["--prune", "sometimes"], ["--prune sometimes"]),
        (["--study", "a/b"], ["study name 'a/b'"]),
        (["--run-name", "x"], ["--run-name does not apply"]),
    ],
)  # fmt: skip
def test_bad_input_is_one_line_and_writes_nothing(extra, needles, mock_tfds, workdir):
    result = zoo(*_tune("--smoke", "--trials", "1", *extra), ok=False)
    assert_one_line_error(result, *needles)
    assert "hunter2" not in result.output
    assert not Path("runs").exists() or not any(Path("runs").rglob("config.json"))


def test_an_existing_study_with_another_model_or_dataset_is_refused(mock_tfds, workdir):
    zoo_json(*_tune("--smoke", "--trials", "1", "--study", "x", "--param", "lr=log:1e-3..1e-2"))
    before = tree(Path("runs/x"))
    other = ("tune", "cnn", "-d", "mnist", "--data-dir", "tfds", "--smoke", "--study", "x",
             "--param", "lr=log:1e-3..1e-2")  # fmt: skip
    assert_one_line_error(zoo(*other, ok=False), "study x exists with another model")
    assert tree(Path("runs/x")) == before
    resumed = zoo_json("tune", "--resume", "x", "--trials", "2")
    assert resumed["states"] == {"complete": 2} and resumed["model"] == "mlp"


def test_the_seeded_sampler_draws_the_same_trials(mock_tfds, workdir):
    drawn = []
    for study in ("s1", "s2"):
        out = zoo_json(*_tune("--smoke", "--trials", "2", "--study", study, "--seed", "3",
                              "--param", "lr=log:1e-4..1e-2", "--param", "optimizer=adam,sgd"))  # fmt: skip
        drawn.append([t["params"] for t in out["trials"]])
    assert drawn[0] == drawn[1]


def test_tune_and_sweep_help_answer():
    text = zoo("tune", "--help").output
    assert "zoo tune cnn -d cifar10 --trials 16" in text and "KerasTuner" in text
    assert "zoo tune show" in zoo("tune", "show", "--help").output
    assert "--seeds" in zoo("sweep", "--help").output


def test_list_choices_are_stored_as_text_and_read_back():
    import optuna

    from zoo.tune import space

    p = space.parse("model.units=[64],[128, 128]")
    assert p.choices == ([64], [128, 128]) and space.parse(p.spec()) == p
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    drawn = {tuple(p.suggest(study.ask())) for _ in range(12)}
    assert drawn == {(64,), (128, 128)}
