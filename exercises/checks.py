"""What the exercises' tests call: run a student's function and the library's reference on the same
cases and say, when they differ, which case, what was expected and what came back.

A test in an exercise source looks like

    def test_slerp_fixed(slerp):
        from exercises.checks import compare
        compare("slerp", slerp, reference_slerp, [("halfway about z", (q0, q1, 0.5)), ...])

Cases are (label, args) with args a tuple of arguments. Results may be tensors, numbers, or tuples,
lists and dicts of them; they match when every tensor is close (``atol``, ``rtol``).
"""
import math

import torch


class NotImplementedYet(AssertionError):
    pass


def _short(x, limit=300):
    text = repr(x.detach() if torch.is_tensor(x) else x)
    return text if len(text) <= limit else text[:limit] + " ..."


def _close(got, expected, atol, rtol, path="result"):
    """-> None when got matches expected, else a description of the first difference."""
    if torch.is_tensor(expected) or isinstance(expected, (float, int)) and not isinstance(expected, bool):
        e = torch.as_tensor(expected, dtype=torch.float64)
        try:
            g = torch.as_tensor(got.detach() if torch.is_tensor(got) else got, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError):
            return "%s: expected a tensor or number, got %s" % (path, type(got).__name__)
        if tuple(g.shape) != tuple(e.shape):
            return "%s: expected shape %s, got shape %s" % (path, list(e.shape), list(g.shape))
        if not torch.isfinite(g).all() and torch.isfinite(e).all():
            return "%s: contains NaN or Inf" % path
        if not torch.allclose(g, e, atol=atol, rtol=rtol, equal_nan=True):
            worst = int((g - e).abs().flatten().argmax())
            return "%s: largest difference %.3g at flat index %d (expected %.6g, got %.6g)" % (
                path, float((g - e).abs().flatten()[worst]), worst, float(e.flatten()[worst]), float(g.flatten()[worst]))
        return None
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return "%s: expected a %s of %d items, got %s" % (path, type(expected).__name__, len(expected), _short(got, 80))
        for k, (g, e) in enumerate(zip(got, expected)):
            diff = _close(g, e, atol, rtol, "%s[%d]" % (path, k))
            if diff:
                return diff
        return None
    if isinstance(expected, dict):
        if not isinstance(got, dict) or set(got) != set(expected):
            return "%s: expected a dict with keys %s, got %s" % (path, sorted(expected), _short(got, 80))
        for k in expected:
            diff = _close(got[k], expected[k], atol, rtol, "%s[%r]" % (path, k))
            if diff:
                return diff
        return None
    return None if got == expected else "%s: expected %r, got %r" % (path, expected, got)


def call_student(name, fn, args):
    """fn(*args); a stub's NotImplementedError (or any other error) becomes a failed check that says so."""
    try:
        return fn(*args)
    except NotImplementedError as e:
        raise NotImplementedYet("%s is not implemented yet (%s)" % (name, e)) from None
    except Exception as e:  # noqa: BLE001 -- the student's code may raise anything
        raise AssertionError("%s raised %s: %s" % (name, type(e).__name__, e)) from None


def compare(name, student_fn, reference_fn, cases, atol=1e-5, rtol=1e-4, quaternions=False):
    """Each case (label, args): student_fn(*args) must match reference_fn(*args). The first mismatch
    raises AssertionError naming the case, the arguments, what was expected and what came back.
    quaternions=True compares results as rotations: q and -q are the same."""
    for label, args in cases:
        expected = reference_fn(*_clone(args))
        got = call_student(name, student_fn, _clone(args))
        if quaternions and torch.is_tensor(got) and torch.is_tensor(expected) and got.shape == expected.shape:
            got = torch.where((got * expected).sum(-1, keepdim=True) < 0, -got, got)
        diff = _close(got, expected, atol, rtol)
        if diff:
            raise AssertionError("%s, case '%s'\n  arguments: %s\n  %s\n  expected: %s\n  got:      %s" % (
                name, label, ", ".join(_short(a, 160) for a in args), diff, _short(expected), _short(got)))


def check(condition, message):
    """A test's own assertion with a message that says what was checked."""
    if not condition:
        raise AssertionError(message)


def _clone(args):
    return tuple(a.clone() if torch.is_tensor(a) else a for a in args)


def random_unit_quats(n, generator):
    q = torch.randn(n, 4, generator=generator)
    return q / q.norm(dim=-1, keepdim=True)


def random_exp_maps(n, generator, max_angle=math.pi - 1e-3):
    axis = torch.randn(n, 3, generator=generator)
    axis = axis / axis.norm(dim=-1, keepdim=True)
    return axis * (torch.rand(n, 1, generator=generator) * max_angle)
