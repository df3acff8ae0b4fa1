"""The instructor's commands (see exercises/README.md):

    python -m exercises.tools build [--dist exercises/dist] [NAME ...]
        student and autograder versions of every source in exercises/src/ (otter assign): for each
        exercise DIST/NAME/student/NAME.ipynb (stubs that raise NotImplementedError, public tests)
        and DIST/NAME/autograder/ (the reference solution, all tests, the Gradescope autograder zip)

    python -m exercises.tools grade SUBMISSIONS [--dist exercises/dist] [--out scores.csv] [--jobs N]
        grades every notebook in the folder SUBMISSIONS (the exercise is read from the notebook's
        otter metadata, else from its file name) and writes one CSV row per test and one per exercise

    python -m exercises.tools check [--dist exercises/dist] [--jobs N] [NAME ...]
        builds the named exercises (all by default) again and proves their graders: the reference solution
        must get full marks, the generated stub none, and every wrong answer in exercises/fixtures/NAME.py
        less than full marks

Grading runs each notebook top to bottom in a fresh kernel without containers (otter's
``grade_submission``), with the kit installed in the same environment (``pip install -e .``).
--jobs N grades up to N notebooks at once, in worker processes (default: one per CPU).
"""
import argparse
import concurrent.futures
import csv
import glob
import importlib
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import nbformat

HERE = os.path.dirname(os.path.abspath(__file__))
SRC = os.path.join(HERE, "src")
DEFAULT_DIST = os.path.join(HERE, "dist")
SOLUTION_TAG = "otter_assign_solution_cell"


def exercise_names():
    return sorted(os.path.splitext(os.path.basename(p))[0] for p in glob.glob(os.path.join(SRC, "*.ipynb")))


def _check_names(names):
    known = exercise_names()
    bad = [n for n in names if n not in known]
    if bad:
        raise SystemExit("unknown exercise(s) %s; the sources in %s are: %s" % (", ".join(bad), SRC, ", ".join(known)))
    return names or known


# ---------------- build ----------------
def build(dist=DEFAULT_DIST, names=()):
    """otter assign every source -> {name: seconds}."""
    names = _check_names(list(names))
    # one child process assigns them all: importing otter takes seconds, an assign a fraction of one
    script = "import sys; from exercises.tools import _assign_all; _assign_all(sys.argv[1], sys.argv[2:])"
    proc = subprocess.run([sys.executable, "-c", script, os.path.abspath(dist)] + names,
                          cwd=os.path.dirname(HERE), capture_output=True, text=True)
    times = {}
    for line in proc.stdout.splitlines():
        words = line.split()
        if len(words) == 3 and words[0] == "built" and words[1] in names:
            times[words[1]] = float(words[2])
    if proc.returncode != 0:
        failed = next((n for n in names if n not in times), ", ".join(names))
        raise SystemExit("otter assign failed for %s:\n%s" % (failed, (proc.stdout + proc.stderr)[-3000:]))
    return times


def _assign_all(dist, names):
    """build's child: `otter assign SOURCE DIST/NAME` for each name, printing `built NAME SECONDS` after each."""
    from otter.cli import cli
    for name in names:
        out = os.path.join(dist, name)
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        cli.main(["assign", os.path.join(SRC, name + ".ipynb"), out], standalone_mode=False)  # raises on failure
        print("built %s %.3f" % (name, time.perf_counter() - start), flush=True)


def paths(dist, name):
    """-> (student notebook, reference (autograder) notebook, autograder zip) of a built exercise."""
    zips = sorted(glob.glob(os.path.join(dist, name, "autograder", "%s-autograder_*.zip" % name)))
    if not zips:
        raise SystemExit("no autograder for %s in %s: run `python -m exercises.tools build --dist %s` first"
                         % (name, dist, dist))
    return (os.path.join(dist, name, "student", name + ".ipynb"),
            os.path.join(dist, name, "autograder", name + ".ipynb"), zips[-1])


# ---------------- grading ----------------
def grade_notebook(path, autograder_zip):
    """-> {"total", "possible", "tests": [(question, test, passed, score, points, message)]}."""
    from otter.api import grade_submission
    results = grade_submission(path, autograder_zip, quiet=True)
    tests = []
    for question, tf in results.results.items():
        for tcr in tf.test_case_results:
            pts = tcr.test_case.points or 0
            tests.append((question, tcr.test_case.name, bool(tcr.passed), pts if tcr.passed else 0, pts,
                          (tcr.message or "").strip()))
    return {"total": results.total, "possible": results.possible, "tests": tests}


def _jobs(n_tasks, jobs=None):
    """How many tasks to run at once: jobs, by default one per CPU, never more than there are tasks."""
    return max(1, min(n_tasks, jobs or os.cpu_count() or 1))


# Kernels started at the same moment in two worker processes can be handed the same free TCP port
# (jupyter_client picks the ports before the kernel binds them); the loser dies at start-up with this message.
KERNEL_START_FAILED = "Kernel died before replying to kernel_info"


def _timed_grade(path, autograder_zip, attempts=3):
    """-> (grade_notebook's result, seconds); what a worker process of grade_notebooks runs. A kernel that died
    at start-up (KERNEL_START_FAILED) is started again, up to `attempts` times in all; nothing had run in it."""
    for attempt in range(1, attempts + 1):
        start = time.perf_counter()
        try:
            return grade_notebook(path, autograder_zip), time.perf_counter() - start
        except RuntimeError as e:
            if KERNEL_START_FAILED not in str(e) or attempt == attempts:
                raise
            time.sleep(0.5 * attempt)


def grade_notebooks(pairs, jobs=None):
    """Grade each (notebook, autograder zip) of pairs, up to jobs at once (default: one per CPU)
    -> [(grade_notebook's result, seconds)] in the order of pairs."""
    workers = _jobs(len(pairs), jobs)
    if workers == 1:
        return [_timed_grade(path, ag) for path, ag in pairs]
    # processes, not threads: grade_submission redirects stdout and changes directory for the whole process.
    # Not forked from this process either: a child forked while another thread holds a lock (the test suite runs
    # threads beside the graders) can wait on it forever, as a CI run did. A fork server is a fresh single-threaded
    # process that imports otter once (it takes seconds) and forks the workers from there.
    context = multiprocessing.get_context("forkserver" if "forkserver" in multiprocessing.get_all_start_methods()
                                          else "spawn")
    if context.get_start_method() == "forkserver":
        context.set_forkserver_preload(["otter.api", "exercises.tools"])
    with concurrent.futures.ProcessPoolExecutor(workers, mp_context=context) as pool:
        return list(pool.map(_timed_grade, *zip(*pairs)))


def exercise_of(path, names):
    """The exercise a submitted notebook answers: its otter metadata, else its file name."""
    try:
        meta = json.load(open(path, encoding="utf-8")).get("metadata", {}).get("otter", {})
    except (OSError, ValueError):
        meta = {}
    if meta.get("assignment_name") in names:
        return meta["assignment_name"]
    base = os.path.basename(path)
    found = [n for n in names if n in base]
    return max(found, key=len) if found else None


def grade_folder(folder, dist=DEFAULT_DIST, out_csv="scores.csv", jobs=None):
    """Grade every notebook in folder, up to jobs at once -> rows written to out_csv (and returned)."""
    names = exercise_names()
    submissions = [(path, exercise_of(path, names)) for path in sorted(glob.glob(os.path.join(folder, "*.ipynb")))]
    graded = iter(grade_notebooks([(path, paths(dist, name)[2]) for path, name in submissions if name is not None],
                                  jobs))
    rows = []
    for path, name in submissions:
        sub = os.path.basename(path)
        if name is None:
            rows.append({"submission": sub, "exercise": "", "question": "", "test": "", "passed": "",
                         "score": 0, "possible": 0, "message": "not an exercise notebook of this kit"})
            continue
        result, _ = next(graded)
        for question, test, passed, score, pts, message in result["tests"]:
            rows.append({"submission": sub, "exercise": name, "question": question, "test": test, "passed": passed,
                         "score": score, "possible": pts, "message": message.splitlines()[-1] if message else ""})
        rows.append({"submission": sub, "exercise": name, "question": "TOTAL", "test": "", "passed": "",
                     "score": result["total"], "possible": result["possible"], "message": ""})
    with open(out_csv, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["submission", "exercise", "question", "test", "passed", "score",
                                               "possible", "message"])
        writer.writeheader()
        writer.writerows(rows)
    return rows


# ---------------- proving the graders ----------------
def wrong_answers(name):
    """{label: replacement code} of exercises/fixtures/NAME.py (its WRONG dict)."""
    module = importlib.import_module("exercises.fixtures." + name.replace("-", "_")) \
        if os.path.isfile(os.path.join(HERE, "fixtures", name + ".py")) else None
    return dict(getattr(module, "WRONG", {})) if module else {}


def with_replaced_solution(reference_nb, code, out_path):
    """A copy of the reference notebook whose solution cell defining the first function (or variable)
    that code defines is replaced by code."""
    nb = nbformat.read(reference_nb, as_version=4)
    first = re.search(r"^(?:def (\w+)\(|(\w+)\s*[,=])", code.strip("\n"), flags=re.M)
    if first is None:
        raise ValueError("a wrong answer must define a function or assign a variable")
    name = first.group(1) or first.group(2)
    pattern = re.compile(r"^(?:def %s\(|%s\s*[,=])" % (name, name), flags=re.M)
    cells = [c for c in nb.cells if SOLUTION_TAG in c.get("metadata", {}).get("tags", []) and pattern.search(c.source)]
    if len(cells) != 1:
        raise ValueError("%s: %d solution cells define %s" % (reference_nb, len(cells), name))
    cells[0].source = code.strip("\n")
    nbformat.write(nb, out_path)
    return out_path


def check_exercise(name, dist=DEFAULT_DIST, jobs=None):
    """Grade the reference, the stub and each wrong answer, up to jobs at once (default: one per CPU)
    -> list of (kind, total, possible, ok, seconds) in that order."""
    student, reference, ag = paths(dist, name)
    with tempfile.TemporaryDirectory() as tmp:
        subjects = [("reference", reference), ("stub", student)]
        for label, code in wrong_answers(name).items():
            path = os.path.join(tmp, "%s_wrong_%s.ipynb" % (name, re.sub(r"\W+", "_", label)))
            subjects.append(("wrong: " + label, with_replaced_solution(reference, code, path)))
        graded = grade_notebooks([(path, ag) for _, path in subjects], jobs)
    out = []
    for (kind, _), (r, seconds) in zip(subjects, graded):
        ok = r["total"] == r["possible"] if kind == "reference" else (
            r["total"] == 0 if kind == "stub" else r["total"] < r["possible"])
        out.append((kind, r["total"], r["possible"], ok, seconds))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="MimicKit exercises: build, grade, check")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("names", nargs="*")
    g = sub.add_parser("grade")
    g.add_argument("submissions")
    g.add_argument("--out", default="scores.csv")
    c = sub.add_parser("check")
    c.add_argument("names", nargs="*")
    for cmd in (b, g, c):
        cmd.add_argument("--dist", default=DEFAULT_DIST)
    for cmd in (g, c):
        cmd.add_argument("--jobs", type=int, default=None, help="grade at most this many notebooks at once "
                                                                "(default: one per CPU)")
    args = p.parse_args(argv)
    if args.command == "build":
        for name, sec in build(args.dist, args.names).items():
            print("built %s in %.1f s -> %s" % (name, sec, os.path.join(args.dist, name)))
        return 0
    if args.command == "grade":
        rows = grade_folder(args.submissions, args.dist, args.out, args.jobs)
        for r in rows:
            if r["question"] == "TOTAL" or not r["exercise"]:
                print("%-40s %-22s %g / %g %s" % (r["submission"], r["exercise"], r["score"], r["possible"], r["message"]))
        print("wrote", args.out)
        return 0
    names = _check_names(args.names)
    build(args.dist, names)  # from the current sources
    failed = 0
    for name in names:
        for kind, total, possible, ok, sec in check_exercise(name, args.dist, args.jobs):
            failed += not ok
            print("%-22s %-48s %g / %g  %s  (%.1f s)" % (name, kind, total, possible, "ok" if ok else "WRONG", sec))
    print("all graders behave" if not failed else "%d grader checks failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
