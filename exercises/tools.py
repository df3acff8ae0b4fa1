"""The instructor's commands (see exercises/README.md):

    python -m exercises.tools build [--dist exercises/dist] [NAME ...]
        student and autograder versions of every source in exercises/src/ (otter assign): for each
        exercise DIST/NAME/student/NAME.ipynb (stubs that raise NotImplementedError, public tests)
        and DIST/NAME/autograder/ (the reference solution, all tests, the Gradescope autograder zip)

    python -m exercises.tools grade SUBMISSIONS [--dist exercises/dist] [--out scores.csv]
        grades every notebook in the folder SUBMISSIONS (the exercise is read from the notebook's
        otter metadata, else from its file name) and writes one CSV row per test and one per exercise

    python -m exercises.tools check [--dist exercises/dist] [NAME ...]
        builds the named exercises (all by default) again and proves their graders: the reference solution must get full marks, the generated stub none,
        and every wrong answer in exercises/fixtures/NAME.py less than full marks

Grading runs each notebook top to bottom in a fresh kernel without containers (otter's
``grade_submission``), with the kit installed in the same environment (``pip install -e .``).
"""
import argparse
import csv
import glob
import importlib
import json
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
    times = {}
    for name in _check_names(list(names)):
        out = os.path.join(dist, name)
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "otter", "assign", os.path.join(SRC, name + ".ipynb"), out],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            raise SystemExit("otter assign failed for %s:\n%s" % (name, (proc.stdout + proc.stderr)[-3000:]))
        times[name] = time.perf_counter() - start
    return times


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


def grade_folder(folder, dist=DEFAULT_DIST, out_csv="scores.csv"):
    """Grade every notebook in folder -> rows written to out_csv (and returned)."""
    names = exercise_names()
    rows = []
    for path in sorted(glob.glob(os.path.join(folder, "*.ipynb"))):
        name = exercise_of(path, names)
        sub = os.path.basename(path)
        if name is None:
            rows.append({"submission": sub, "exercise": "", "question": "", "test": "", "passed": "",
                         "score": 0, "possible": 0, "message": "not an exercise notebook of this kit"})
            continue
        result = grade_notebook(path, paths(dist, name)[2])
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


def check_exercise(name, dist=DEFAULT_DIST):
    """Grade the reference, the stub and each wrong answer -> list of (kind, total, possible, ok, seconds)."""
    student, reference, ag = paths(dist, name)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        subjects = [("reference", reference), ("stub", student)]
        for label, code in wrong_answers(name).items():
            path = os.path.join(tmp, "%s_wrong_%s.ipynb" % (name, re.sub(r"\W+", "_", label)))
            subjects.append(("wrong: " + label, with_replaced_solution(reference, code, path)))
        for kind, path in subjects:
            start = time.perf_counter()
            r = grade_notebook(path, ag)
            ok = r["total"] == r["possible"] if kind == "reference" else (
                r["total"] == 0 if kind == "stub" else r["total"] < r["possible"])
            out.append((kind, r["total"], r["possible"], ok, time.perf_counter() - start))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description="MimicKit exercises: build, grade, check")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build")
    b.add_argument("names", nargs="*")
    b.add_argument("--dist", default=DEFAULT_DIST)
    g = sub.add_parser("grade")
    g.add_argument("submissions")
    g.add_argument("--dist", default=DEFAULT_DIST)
    g.add_argument("--out", default="scores.csv")
    c = sub.add_parser("check")
    c.add_argument("names", nargs="*")
    c.add_argument("--dist", default=DEFAULT_DIST)
    args = p.parse_args(argv)
    if args.command == "build":
        for name, sec in build(args.dist, args.names).items():
            print("built %s in %.1f s -> %s" % (name, sec, os.path.join(args.dist, name)))
        return 0
    if args.command == "grade":
        rows = grade_folder(args.submissions, args.dist, args.out)
        for r in rows:
            if r["question"] == "TOTAL" or not r["exercise"]:
                print("%-40s %-22s %g / %g %s" % (r["submission"], r["exercise"], r["score"], r["possible"], r["message"]))
        print("wrote", args.out)
        return 0
    failed = 0
    for name in _check_names(args.names):
        build(args.dist, [name])  # from the current source
        for kind, total, possible, ok, sec in check_exercise(name, args.dist):
            failed += not ok
            print("%-22s %-48s %g / %g  %s  (%.1f s)" % (name, kind, total, possible, "ok" if ok else "WRONG", sec))
    print("all graders behave" if not failed else "%d grader checks failed" % failed)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
