"""mats_core.bench.sweep: the whole grid is validated before any point runs (errors name the grid
file and key), and the plots draw the metric against one swept param, one line per value of
the other swept params."""

from pathlib import Path

import pytest

from mats_core import MatsError
from mats_core.bench.sweep import run_sweep
from mats_core.bench.sweep_plots import plot, plot_param, swept_params
from mats_core.bench.sweep_spec import check_spec, load_spec

SHIPPED = Path(__file__).resolve().parents[1] / "plugins" / "mats_tiny" / "weights" / "mats"
GOOD = """\
tasks: [tiny-classify, tiny-qa]
seeds: [0, 1]
run: {limit: 4}
grid:
  - bridge: santa
    params: {lam: [0.0, 0.5], k: [4, 8], search: exact}
  - bridge: none
"""


def grid(tmp_path, text):
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def no_runs(monkeypatch):
    """Fail the test if anything starts loading models or running a point."""
    import mats_core.run.harness as harness

    def boom(*a, **k):
        raise AssertionError("a point ran before the grid was validated")

    monkeypatch.setattr(harness, "evaluate", boom)
    monkeypatch.setattr(harness.Pipeline, "from_checkpoint", classmethod(boom))


@pytest.mark.skipif(not (SHIPPED / "noise" / "config.json").exists(), reason="shipped tiny checkpoints not built")
def test_a_good_grid_passes(tmp_path):
    spec = load_spec(grid(tmp_path, GOOD))
    check_spec(spec)
    assert len(spec.points()) == 5 and spec.points()[0] == ("santa", {"k": 4, "lam": 0.0, "search": "exact"})


BAD = [
    (
        "{lam: [0.0, 1.5]}",
        "grid[1].params.lam[1] = 1.5: bridge 'santa': param 'lam': Input should be less than or equal to 1",
    ),
    ("{lamda: [0.1, 0.2]}", "grid[1].params.lamda[0] = 0.1: bridge 'santa': unknown param 'lamda'"),
    ("{k: 0}", "grid[1].params.k = 0: bridge 'santa': param 'k': Input should be greater than or equal to 1"),
    ("{search: [exact, annoy]}", "grid[1].params.search[1] = 'annoy': bridge 'santa': param 'search'"),
]


@pytest.mark.parametrize("params,message", BAD)
def test_a_bad_param_value_fails_before_any_point_runs(tmp_path, no_runs, params, message):
    path = grid(tmp_path, f"tasks: [tiny-qa]\ngrid:\n  - bridge: none\n  - bridge: santa\n    params: {params}\n")
    with pytest.raises(MatsError) as exc:
        run_sweep(load_spec(path), tmp_path / "out")
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "text,message",
    [
        (
            "tasks: [tiny-qa, tiny-qaa]\ngrid: [{bridge: none}]\n",
            "tasks[1]: unknown task 'tiny-qaa'; did you mean 'tiny-qa'?",
        ),
        ("tasks: [tiny-qa]\ngrid: [{bridge: none}, {bridge: sant}]\n", "grid[1].bridge: unknown bridge 'sant'"),
        ("encoder: tinyy\ntasks: [tiny-qa]\ngrid: [{bridge: none}]\n", "encoder: unknown encoder 'tinyy'"),
        (
            "tasks: [tiny-qa]\nrun: {limt: 3}\ngrid: [{bridge: none}]\n",
            "run: unknown setting 'run.limt'; did you mean 'limit'?",
        ),
        (
            "tasks: [tiny-qa]\nrun: {limit: 0}\ngrid: [{bridge: none}]\n",
            "run: setting 'run.limit': Input should be greater than or equal to 1, or a fraction between 0 and 1 (got 0)",
        ),
        (
            "tasks: [tiny-qa]\ncheckpoints: [/nonexistent/ck]\ngrid: [{bridge: none}]\n",
            "checkpoints[0]: /nonexistent/ck: neither a checkpoint",
        ),
    ],
)
def test_bad_names_fail_before_any_point_runs(tmp_path, no_runs, text, message):
    path = grid(tmp_path, text)
    with pytest.raises(MatsError) as exc:
        run_sweep(load_spec(path), tmp_path / "out")
    assert str(exc.value).startswith(f"{path}: ") and message in str(exc.value)


def test_a_malformed_grid_file_names_the_file_and_key(tmp_path):
    path = grid(tmp_path, "tasks: tiny-qa\ngrid: [{bridge: none, param: {}}]\n")
    with pytest.raises(
        MatsError,
        match=r"grid\.yaml: key 'tasks': Input should be a valid list \(got 'tiny-qa'\); unknown key 'grid\.0\.param'$",
    ):
        load_spec(path)


# -- plots -----------------------------------------------------------------------------------
def summary_rows():
    """A summary as summarise() makes it: santa sweeps lam x k, memory sweeps k, none is fixed."""
    rows = []
    for lam in (0.0, 0.3, 1.0):
        for k in (4, 32):
            rows.append(
                {
                    "bridge": "santa",
                    "param.lam": lam,
                    "param.k": k,
                    "param.search": "exact",
                    "mean": 0.5 + lam / 4 + k / 200,
                    "std": 0.02,
                    "n": 2,
                }
            )
    rows += [{"bridge": "memory", "param.k": k, "mean": 0.4 + k / 100, "std": 0.0, "n": 2} for k in (4, 32)]
    rows += [{"bridge": "none", "mean": 0.3, "std": 0.0, "n": 2}]
    return [{"task": "tiny-classify", "metric": "accuracy_exact", **r} for r in rows]


def legend(fig):
    return [t.get_text() for t in fig.axes[0].get_legend().get_texts()]


def test_one_line_per_value_of_the_other_swept_params():
    import matplotlib

    matplotlib.use("Agg")
    rows = summary_rows()
    swept = swept_params(rows)
    assert swept == {"santa": ["param.k", "param.lam"], "memory": ["param.k"], "none": []}
    lam = plot_param(rows, swept, "param.lam", "tiny-classify accuracy_exact")
    assert legend(lam) == ["santa k=4", "santa k=32", "none (reference)"]
    ax = lam.axes[0]
    assert [list(line.get_xdata()) for line in ax.get_lines()[:2]] == [[0.0, 0.3, 1.0]] * 2
    assert "fixed: santa search=exact" in ax.get_title()
    k = plot_param(rows, swept, "param.k", "tiny-classify accuracy_exact")
    assert legend(k) == ["memory", "santa lam=0", "santa lam=0.3", "santa lam=1", "none (reference)"]


def test_categorical_params_and_files(tmp_path):
    rows = [
        {
            "task": "t",
            "metric": "m",
            "bridge": "santa",
            "param.search": s,
            "param.normalize_audio": na,
            "mean": 0.1 * i,
            "std": 0.0,
            "n": 1,
        }
        for i, (s, na) in enumerate([(s, na) for s in ("exact", "kmeans") for na in (True, False)])
    ]
    paths = plot(rows, tmp_path)
    assert sorted(p.name for p in paths) == ["plot-t-m-normalize_audio.png", "plot-t-m-search.png"]
    assert all(p.stat().st_size > 10_000 for p in paths)
    fig = plot_param(rows, swept_params(rows), "param.search", "t m")
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == ["exact", "kmeans"]
    assert legend(fig) == ["santa normalize_audio=False", "santa normalize_audio=True"]
    counted = [{**r, "metric": "n", "mean": 150.0} for r in summary_rows()]
    paths = plot(summary_rows() + counted, tmp_path)
    assert {p.name for p in paths} >= {
        "plot-tiny-classify-accuracy_exact-lam.png",
        "plot-tiny-classify-accuracy_exact-k.png",
    }
    assert not any("-n-" in p.name for p in paths)  # counts stay in the table


@pytest.mark.parametrize(
    "path", sorted((Path(__file__).resolve().parents[1] / "benchmarks" / "grids").glob("*.yaml")), ids=lambda p: p.name
)
def test_shipped_grids_validate(path):
    """The grids the README and docs run name only known bridges, params and tasks."""
    spec = load_spec(path)
    check_spec(spec)
    assert spec.points()


@pytest.mark.parametrize("run", [{"limit": 4, "oracle_bank": 0.25}, {"limit": 4}], ids=["oracle", "ordinary"])
def test_a_sweep_with_the_coverage_dial_is_labelled_oracle_everywhere(tmp_path, run):
    """Issue 35: every table, record and figure of a sweep whose grid turns the coverage dial on says ORACLE BANK."""
    import csv
    import json

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.image
    from matplotlib.figure import Figure

    from mats_core.bench.sweep_output import write_outputs
    from mats_core.bench.sweep_spec import SweepSpec

    spec = SweepSpec(tasks=["tiny-classify"], run=run, grid=[{"bridge": "santa", "params": {"lam": [0.0, 0.5]}}])
    rows = [
        {"bridge": "santa", "param.lam": lam, "checkpoint": 0, "seed": 0, "task": "tiny-classify", "kind": "classify"}
        | {"metric": "accuracy_exact", "value": 0.5 + lam, "headline": True, "ci_low": 0.4, "ci_high": 0.9}
        for lam in (0.0, 0.5)
    ]
    titles = []
    real_savefig = Figure.savefig

    def savefig(fig, path, **kw):  # record every title the figure carries, then save it as usual
        titles.append(" ".join([fig._suptitle.get_text() if fig._suptitle else ""] + [a.get_title() for a in fig.axes]))
        return real_savefig(fig, path, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Figure, "savefig", savefig)
        write_outputs(rows, spec, tmp_path)
    oracle = "oracle_bank" in run
    label = "ORACLE BANK (oracle_bank 0.25)"
    assert len(titles) == 2 and all((label in t) == oracle for t in titles)  # summary-lam.png and plots/plot-...
    assert matplotlib.image.imread(tmp_path / "plots" / "plot-tiny-classify-accuracy_exact-lam.png").size
    assert (tmp_path / "sweep.md").read_text().startswith(f"**{label}") == oracle
    doc = json.loads((tmp_path / "sweep.json").read_text())
    assert doc.get("oracle_bank") == ({"oracle_bank": 0.25} if oracle else None)
    table = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert len(table) == 2 and all((r.get("oracle_bank") == label) == oracle for r in table)
