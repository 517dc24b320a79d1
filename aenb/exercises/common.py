"""What every exercise check shares: calling the reader's code, validating what came back, printing the verdict.

A check is a plain function decorated with :func:`exercise`. Its body returns the text of a
correct answer, or raises :class:`NotYet` (a wrong answer: what was expected, what came, a
hint) or :class:`Unanswered` (the placeholder is still there). The decorator prints one
verdict and returns True or False, so a reader never sees a traceback from a check.

Every printed text is deterministic (no timings, no addresses, no unseeded random numbers):
the committed notebooks show the "not answered yet" verdicts and strict nbval compares them.
"""

from __future__ import annotations

import functools
import math
import textwrap
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from ..data import Split, load_dataset

_PACKAGE_DIR = str(Path(__file__).resolve().parents[1])
_WIDTH = 110


class NotYet(Exception):
    """A wrong answer: the problem, what was expected, what came, and a hint."""

    def __init__(self, problem: str, *, expected: str | None = None, got: str | None = None,
                 hint: str | None = None) -> None:
        super().__init__(problem)
        self.problem, self.expected, self.got, self.hint = problem, expected, got, hint


class Unanswered(Exception):
    """The reader's answer is still the placeholder (``...`` or ``raise NotImplementedError``)."""


def _field(label: str, text: str) -> str:
    return textwrap.fill(text, _WIDTH, initial_indent=f"  {label:<10}", subsequent_indent=" " * 12,
                         break_long_words=False, break_on_hyphens=False)


def exercise(number: str, name: str) -> Callable[[Callable[..., str]], Callable[..., bool]]:
    """Decorate a check body: print ``Exercise <number> (<name>): ...`` and return whether it passed."""

    def decorate(body: Callable[..., str]) -> Callable[..., bool]:
        @functools.wraps(body)
        def check(*args: Any, **kwargs: Any) -> bool:
            title = f"Exercise {number} ({name})"
            try:
                message = body(*args, **kwargs)
            except Unanswered:
                print(f"{title}: not answered yet. Write your answer in the cell above (it still holds the "
                      f"placeholder), run that cell, then run this one again.")
                return False
            except NotYet as verdict:
                lines = [f"{title}: not yet. {verdict.problem}"]
                for label, text in (("expected:", verdict.expected), ("got:", verdict.got), ("hint:", verdict.hint)):
                    if text:
                        lines.append(_field(label, text))
                print("\n".join(lines))
                return False
            except Exception as exc:  # a bug in the check itself, or an answer it could not handle
                print(f"{title}: could not check your answer ({type(exc).__name__}: {_first_line(exc)}).\n"
                      + _field("hint:", "look at the type and shape of what your answer returns, and compare "
                                        "with the task above."))
                return False
            print(f"{title}: correct. {message}")
            return True

        return check

    return decorate


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    line = text[0] if text else "(no message)"
    return line if len(line) <= 200 else line[:197] + "..."


def _reader_line(exc: BaseException) -> str | None:
    """The last line of the traceback that is the reader's code (not torch's, numpy's or aenb's)."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if not f.filename.startswith(_PACKAGE_DIR) and "site-packages" not in f.filename
              and "/lib/python" not in f.filename and f.line]
    return frames[-1].line.strip() if frames else None


def call(answer: Any, *args: Any) -> Any:
    """Run the reader's function on ``args``; every way it can fail becomes a verdict."""
    if answer is Ellipsis:
        raise Unanswered
    if not callable(answer):
        raise NotYet(f"expected a function, got {describe(answer)}.",
                     hint="pass the function itself, without calling it: check_x(my_x), not check_x(my_x(...)).")
    try:
        result = answer(*args)
    except NotImplementedError:
        raise Unanswered from None
    except Exception as exc:
        line = _reader_line(exc)
        where = f"it came from this line of your code: {line}. " if line else ""
        raise NotYet(f"your function raised {type(exc).__name__}: {_first_line(exc)}",
                     hint=f"{where}Read the error message: it names the operation that failed and usually the "
                          f"shapes involved. Try your function on a small input in a cell of its own.") from None
    return value(result, what="the result of your function", hint="did you forget the `return` statement?")


def value(answer: Any, *, what: str = "the answer", hint: str = "assign a number to the variable in the cell above.") \
        -> Any:
    """A value answer (``answer = ...``): the placeholder means unanswered, None gets ``hint``."""
    if answer is Ellipsis:
        raise Unanswered
    if answer is None:
        raise NotYet(f"{what} is None.", hint=hint)
    return answer


def describe(x: Any) -> str:
    """A short, deterministic description of any object (no addresses)."""
    if isinstance(x, torch.Tensor):
        return f"a tensor of shape {tuple(x.shape)} and dtype {x.dtype}"
    if isinstance(x, np.ndarray):
        return f"a NumPy array of shape {x.shape} and dtype {x.dtype}"
    if isinstance(x, (bool, int, float)):
        return f"the {type(x).__name__} {x!r}"
    if isinstance(x, (tuple, list)):
        return f"a {type(x).__name__} of length {len(x)}"
    return f"an object of type {type(x).__name__}"


def as_tensor(result: Any, shape: tuple[int, ...], *, what: str = "your result",
              shape_hints: dict[tuple[int, ...], str] | None = None, nan_hint: str | None = None) -> torch.Tensor:
    """``result`` as a float64 CPU tensor of ``shape``, or a verdict on its type, shape, dtype or NaNs."""
    if isinstance(result, (np.ndarray, np.generic, float, int)) and not isinstance(result, bool):
        result = torch.as_tensor(np.asarray(result))
    if not isinstance(result, torch.Tensor):
        raise NotYet(f"{what} is not a tensor.", expected=f"a torch.Tensor of shape {shape}", got=describe(result),
                     hint="build the result from torch operations on the inputs, and return the tensor itself.")
    if tuple(result.shape) != tuple(shape):
        hints = shape_hints or {}
        raise NotYet(f"{what} has the wrong shape.", expected=f"shape {tuple(shape)}",
                     got=f"shape {tuple(result.shape)}",
                     hint=hints.get(tuple(result.shape), "check which dimensions you reduce over (dim=...) and "
                                                         "whether you kept one value per sample."))
    if not (result.dtype.is_floating_point):
        raise NotYet(f"{what} has the wrong dtype.", expected="a floating-point tensor (torch.float32 or float64)",
                     got=f"dtype {result.dtype}",
                     hint="integer or boolean results lose the fractions: compute with float tensors "
                          "(for example, no // and no .long()).")
    result = result.detach().to("cpu", torch.float64)
    bad = ~torch.isfinite(result)
    if bad.any():
        kind = "NaN" if torch.isnan(result).any() else "infinite"
        raise NotYet(f"{what} holds {kind} values ({int(bad.sum())} of {result.numel()}).",
                     hint=nan_hint or "a log of 0 or of a negative number, a division by 0, or exp of a large "
                                      "number? Check each step on a small input.")
    return result


def as_number(result: Any, *, what: str = "your answer") -> float:
    """A finite Python float from a number, a 0-d tensor or array, or a verdict."""
    if isinstance(result, (torch.Tensor, np.ndarray)):
        if int(np.prod(result.shape)) != 1:
            raise NotYet(f"{what} is not a single number.", expected="one number", got=describe(result),
                         hint="reduce it to one value, for example with float(...).")
        result = result.reshape(()).tolist()
    if isinstance(result, bool) or not isinstance(result, (int, float, np.floating, np.integer)):
        raise NotYet(f"{what} is not a number.", expected="one number (int or float)", got=describe(result))
    number = float(result)
    if not math.isfinite(number):
        raise NotYet(f"{what} is {number}.", expected="a finite number",
                     hint="a division by 0, or a log of 0? Check each step on a small input.")
    return number


def preview(t: torch.Tensor, n: int = 3) -> str:
    """The first ``n`` values of a tensor, 4 significant digits, and its shape."""
    flat = t.reshape(-1)
    values = ", ".join(f"{float(v):.4g}" for v in flat[:n])
    more = ", ..." if flat.numel() > n else ""
    return f"[{values}{more}] (shape {tuple(t.shape)})"


def compare(got: torch.Tensor, expected: torch.Tensor, *, problem: str, hint: str,
            mistakes: dict[str, torch.Tensor] | None = None, rtol: float = 1e-4, atol: float = 1e-6) -> None:
    """Raise a verdict unless ``got`` matches ``expected``; name the mistake when ``got`` matches a known one."""
    expected = expected.detach().to("cpu", torch.float64)
    if torch.allclose(got, expected, rtol=rtol, atol=atol):
        return
    for mistake_hint, wrong in (mistakes or {}).items():
        wrong = wrong.detach().to("cpu", torch.float64)
        if wrong.shape == got.shape and torch.allclose(got, wrong, rtol=rtol, atol=atol):
            hint = mistake_hint
            break
    raise NotYet(problem, expected=preview(expected), got=preview(got), hint=hint)


@functools.lru_cache(maxsize=8)
def _cached(name: str, split: str, limit: int) -> Split:
    return load_dataset(name, split, limit=limit)


def images(name: str, split: str, limit: int) -> torch.Tensor:
    """The first ``limit`` images of a split, ``(N, 1, 28, 28)`` on the CPU (a copy: the reader may modify it)."""
    return _cached(name, split, limit).images.clone()


def labels(name: str, split: str, limit: int) -> torch.Tensor:
    """The labels of those images."""
    return _cached(name, split, limit).labels.clone()
