"""The classroom exercises: every grader passes the reference solution, fails the generated stub and
fails each plausible wrong answer kept in exercises/fixtures; every exercise notebook runs top to bottom
with its solution; grading a folder of submissions writes the expected scores."""
import concurrent.futures
import csv
import os
import shutil
import subprocess
import sys
import time

import nbformat
import pytest

from exercises import tools

from conftest import REPO_ROOT

NAMES = tools.exercise_names()


@pytest.fixture(scope="session")
def dist(tmp_path_factory):
    out = str(tmp_path_factory.mktemp("exercises_dist"))
    tools.build(out)
    return out


def test_there_are_eight_exercises_each_with_wrong_answers():
    assert len(NAMES) == 8
    for name in NAMES:
        assert len(tools.wrong_answers(name)) >= 1, name


@pytest.mark.parametrize("name", NAMES)
def test_grader_passes_the_reference_and_fails_the_stub_and_each_wrong_answer(dist, name):
    results = tools.check_exercise(name, dist)
    kinds = [kind for kind, *_ in results]
    assert kinds[:2] == ["reference", "stub"] and len(kinds) >= 3
    for kind, total, possible, ok, _ in results:
        assert possible > 0 and ok, "%s, %s: %g of %g" % (name, kind, total, possible)


@pytest.mark.parametrize("name", NAMES)
def test_student_version_holds_stubs_and_public_tests_only(dist, name):
    student, reference, _ = tools.paths(dist, name)
    student_src = "\n".join(c.source for c in nbformat.read(student, as_version=4).cells)
    reference_src = "\n".join(c.source for c in nbformat.read(reference, as_version=4).cells)
    assert "SOLUTION" not in student_src and "NotImplementedError" in student_src
    assert "BEGIN SOLUTION" in reference_src  # the markers stay in the reference, as comments
    public = os.listdir(os.path.join(os.path.dirname(student), "tests"))
    for test_file in public:
        text = open(os.path.join(os.path.dirname(student), "tests", test_file)).read()
        assert "hidden=True" not in text, (name, test_file)
    hidden = "".join(open(os.path.join(os.path.dirname(reference), "tests", f)).read() for f in public)
    assert "hidden=True" in hidden  # the autograder has the hidden tests


def _nbval(dist, name):
    """pytest --nbval-lax on the reference notebook of name, in a process of its own -> (returncode, stdout, seconds)."""
    _, reference, _ = tools.paths(dist, name)
    env = dict(os.environ, MIMICKIT_QUICK="1")
    for _ in range(3):  # up to 3 runs: one whose kernel died at start-up (a parallel run's kernel took its port) again
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax",
                               reference], cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)
        if proc.returncode == 0 or tools.KERNEL_START_FAILED not in proc.stdout + proc.stderr:
            break
    return proc.returncode, proc.stdout, time.perf_counter() - start


@pytest.fixture(scope="session")
def nbval_runs(dist, request):
    """{name: future of _nbval(dist, name)} for every exercise whose notebook test is selected: all queued at the
    first such test and run up to one per CPU at once (each is a single-threaded kernel); each test waits for its own."""
    names = [item.callspec.params["name"] for item in request.session.items
             if getattr(item, "originalname", None) == "test_exercise_notebook_runs_top_to_bottom_with_its_solution"]
    pool = concurrent.futures.ThreadPoolExecutor(os.cpu_count() or 1)
    runs = {name: pool.submit(_nbval, dist, name) for name in names}
    pool.shutdown(wait=False)  # the queued runs still run; the threads end with the last instead of lingering
    yield runs
    for run in runs.values():
        run.cancel()  # the runs not started yet when pytest stops early


@pytest.mark.parametrize("name", NAMES)
def test_exercise_notebook_runs_top_to_bottom_with_its_solution(nbval_runs, name):
    returncode, stdout, seconds = nbval_runs[name].result()
    print("%s: nbval in %.1f s" % (name, seconds))
    assert returncode == 0, stdout[-3000:]


def test_grading_a_folder_of_submissions_writes_scores_per_exercise_and_per_test(dist, tmp_path):
    name = "05_ppo_losses"
    student, reference, _ = tools.paths(dist, name)
    folder = tmp_path / "submissions"
    folder.mkdir()
    shutil.copy(reference, str(folder / "alice.ipynb"))  # the exercise comes from the notebook's metadata
    shutil.copy(student, str(folder / ("bob_%s.ipynb" % name)))
    wrong = tools.wrong_answers(name)["value loss without the square"]
    tools.with_replaced_solution(reference, wrong, str(folder / "carol.ipynb"))
    (folder / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    out = tmp_path / "scores.csv"
    assert tools.main(["grade", str(folder), "--dist", dist, "--out", str(out)]) == 0
    rows = list(csv.DictReader(open(str(out))))
    totals = {r["submission"]: (float(r["score"]), float(r["possible"])) for r in rows if r["question"] == "TOTAL"}
    assert totals == {"alice.ipynb": (6.0, 6.0), "bob_05_ppo_losses.ipynb": (0.0, 6.0), "carol.ipynb": (4.0, 6.0)}
    carol = [r for r in rows if r["submission"] == "carol.ipynb" and r["question"] == "q2"]
    assert [r["passed"] for r in carol] == ["False", "False"] and all(r["message"] for r in carol)
    assert sum(float(r["score"]) for r in rows if r["submission"] == "alice.ipynb" and r["question"] != "TOTAL") == 6.0
    other = [r for r in rows if r["submission"] == "notes.ipynb"]
    assert len(other) == 1 and "not an exercise notebook" in other[0]["message"]


def test_a_kernel_that_dies_at_start_up_is_started_again(monkeypatch):
    """Two graders starting kernels at once can collide on a TCP port; the one whose kernel died is retried,
    any other error is not, and a third death in a row is reported."""
    calls = []

    def flaky(path, autograder_zip, fail_times, error):
        calls.append(path)
        if len(calls) <= fail_times:
            raise error
        return {"total": 1, "possible": 1, "tests": []}

    died = RuntimeError(tools.KERNEL_START_FAILED)
    monkeypatch.setattr(tools, "grade_notebook", lambda p, z: flaky(p, z, 2, died))
    result, seconds = tools._timed_grade("nb.ipynb", "ag.zip")
    assert result["total"] == 1 and len(calls) == 3 and seconds >= 0

    calls.clear()
    monkeypatch.setattr(tools, "grade_notebook", lambda p, z: flaky(p, z, 3, died))
    with pytest.raises(RuntimeError, match="Kernel died"):
        tools._timed_grade("nb.ipynb", "ag.zip")
    assert len(calls) == 3

    calls.clear()
    monkeypatch.setattr(tools, "grade_notebook", lambda p, z: flaky(p, z, 1, RuntimeError("a failing test cell")))
    with pytest.raises(RuntimeError, match="failing test cell"):
        tools._timed_grade("nb.ipynb", "ag.zip")
    assert len(calls) == 1
