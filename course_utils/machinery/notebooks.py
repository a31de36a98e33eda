"""The course's notebooks: catalog, badges and install cells kept in sync, structure checks.

Every notebook starts with a markdown cell tagged ``header`` whose first line is the Colab
badge, and has a code cell tagged ``colab-install`` whose source is
:func:`course_utils.machinery.links.install_cell_source`. ``python -m course_utils sync`` rewrites both
from the one canonical URL in :mod:`course_utils.machinery.links`.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import nbformat

from . import links
from .editions import exercise_problems

__all__ = ["CATALOG", "NotebookInfo", "notebooks_dir", "find_notebooks", "sync_notebook",
           "notebook_problems", "readme_table", "sync_readme", "markdown_words", "printed_lines",
           "reading_problems"]


@dataclass(frozen=True)
class NotebookInfo:
    number: str
    file: str
    title: str
    shows: str
    quick: str = "planned"  # runtime measured in the quick profile on a 2-core CPU
    full: str = "planned"   # runtime measured in the full profile on a GPU


CATALOG = [
    NotebookInfo("01", "01_introduction.ipynb", "Introduction to Transformers",
                 "path length counted (RNN vs attention), the whole encoder classifier drawn and "
                 "written in one cell, equal to the package's model and PyTorch's block, "
                 "parameters counted, a transformer beats bag-of-words on negation; what pretrained "
                 "models do today, offline: MiniLM semantic search (precision@5 against chance), "
                 "SmolLM2 continuing a prompt and ranking 40 fixed facts by likelihood against the "
                 "prompt without its subject",
                 quick="25 s", full="not yet run on a GPU; smoke run: 1.3 GiB peak"),
    NotebookInfo("02", "02_self_attention.ipynb", "Self-attention mechanism",
                 "Q, K, V by hand, why divide by √d_k (entropy and gradients measured), masks, "
                 "multi-head attention equal to PyTorch, a classifier and what it attends to",
                 quick="20 s", full="not yet run on a GPU; smoke run: 2.1 GiB peak"),
    NotebookInfo("03", "03_positional_encoding.ipynb", "Positional encoding",
                 "permutation equivariance shown, sinusoidal shift property verified, "
                 "learned and rotary positions, chance without positions, length generalisation",
                 quick="15 s", full="not yet run on a GPU; smoke run: 5.1 GiB peak"),
    NotebookInfo("04", "04_complexity.ipynb", "Computational complexity vs RNNs",
                 "Vaswani et al.'s Table 1 measured (FLOPs counted, sequential ops and path "
                 "lengths counted); attention vs LSTM in n and d: FLOPs, time, peak memory and "
                 "slopes; naive vs fused SDPA memory; vanishing gradients",
                 quick="20 s", full="not yet run on a GPU; smoke run: 3.6 GiB peak"),
    NotebookInfo("05", "05_parallelization.ipynb", "Parallelization",
                 "sequential steps counted; training throughput of a transformer, fused LSTM and "
                 "LSTM loop; 1 vs 2 threads; a Llama-style decoder written in view (RMSNorm, SwiGLU, "
                 "rotary, grouped-query attention, tied embeddings) running SmolLM2-135M-Instruct's weights, "
                 "equal to transformers; prefill vs decoding tokens/s, KV cache speed-up and bytes; "
                 "DDP with torchrun, gradients equal, all-reduce cost",
                 quick="40 s", full="not yet run on a GPU; smoke run: 4.0 GiB peak"),
    NotebookInfo("06", "06_scaling.ipynb", "Scaling: data, parameters, heads",
                 "char-level LM on BBC News: power laws in parameters and data with fitted "
                 "exponents and how α changes with training length, overfitting, heads at fixed width against "
                 "seed noise, fixed FLOPs vs fixed seconds and Chinchilla (all parameters); ViT vs CNN on digits as the training set grows",
                 quick="45 s", full="not yet run on a GPU; smoke run: 5.1 GiB peak"),
    NotebookInfo("07", "07_attention_visualization.ipynb",
                 "Attention visualization and interpretability",
                 "every layer and head of a trained model and of pretrained MiniLM (offline); "
                 "head patterns measured; an offline viewer; rollout, gradient×input, occlusion, "
                 "LIME, SHAP and integrated gradients scored for faithfulness against random (rank-1 "
                 "on a known-answer task, ERASER comprehensiveness/sufficiency on fine-tuned MiniLM); "
                 "induction heads in SmolLM2 on the course's own decoder (hooks), mean-ablated "
                 "against random heads; "
                 "permuted attention; MiniLM fine-tuned (first layer only in quick) vs from scratch on "
                 "topic-balanced articles; WEAT bias test "
                 "(Caliskan's roles); how explanations can mislead",
                 quick="40 s", full="not yet run on a GPU; smoke run: 3.4 GiB peak"),
    NotebookInfo("08", "08_depth.ipynb", "Impact of depth",
                 "multi-hop variable binding: accuracy against layers and the minimum depth per "
                 "hop count; parameters and time per step against depth; residuals removed; "
                 "post-LN vs pre-LN gradient norms and warm-up",
                 quick="30 s", full="not yet run on a GPU; smoke run: 1.5 GiB peak"),
    NotebookInfo("09", "09_oov_tokenization.ipynb",
                 "Out-of-vocabulary words and subword tokenization",
                 "OOV rate vs vocabulary size and Zipf on Wikipedia; char/BPE/WordPiece/Unigram; "
                 "BPE from scratch equals tokenizers; WordPiece's greedy encoding vs merges; "
                 "[UNK] vs byte-level BPE; GRU and transformer, word vs subword, on unseen words; "
                 "masked vs causal pretraining on characters, against always guessing",
                 quick="30 s", full="not yet run on a GPU; smoke run: 1.1 GiB peak"),
    NotebookInfo("10", "10_long_sequences.ipynb", "Long sequences: sparse, Longformer, Linformer",
                 "time and peak memory to n = 8k (32k in full) for naive, fused SDPA, sliding "
                 "window, block-sparse and Linformer, slopes and crossovers; limits exact; error "
                 "on MiniLM's inputs; two-layer models on a needle task and BBC News vs "
                 "truncation",
                 quick="25 s", full="not yet run on a GPU; smoke run: 8.6 GiB peak"),
    NotebookInfo("11", "11_transformers_vs_rnns.ipynb", "Transformers vs RNNs",
                 "equal parameter and time budgets: first-token recall against L, BBC and "
                 "sentiment, EN→FR number translation (encoder-decoder drawn) with Bahdanau "
                 "attention and alignments; "
                 "speed; constant RNN state vs KV cache; linear attention as an RNN",
                 quick="30 s", full="not yet run on a GPU; smoke run: 1.0 GiB peak"),
]


def notebooks_dir() -> Path:
    """``./notebooks`` if it exists, else the ``notebooks/`` folder beside the package."""
    here = Path.cwd() / "notebooks"
    if here.is_dir():
        return here
    return Path(__file__).resolve().parents[2] / "notebooks"


def find_notebooks(directory: Path | None = None, only: list[str] | None = None) -> list[Path]:
    """The course notebooks (``NN_name.ipynb``) in order; ``only`` keeps numbers like "02"."""
    directory = directory or notebooks_dir()
    paths = sorted(p for p in directory.glob("[0-9][0-9]_*.ipynb"))
    if only:
        wanted = {o.zfill(2) for o in only}
        unknown = wanted - {p.name[:2] for p in paths}
        if unknown:
            raise ValueError(f"no notebook numbered {sorted(unknown)} in {directory}; have "
                             f"{[p.name[:2] for p in paths]}")
        paths = [p for p in paths if p.name[:2] in wanted]
    return paths


README_START = "<!-- notebooks:start (generated by `python -m course_utils sync`) -->"
README_END = "<!-- notebooks:end -->"


def readme_table() -> str:
    """The README's table of notebooks, made from :data:`CATALOG` and :mod:`links`."""
    rows = ["| # | notebook | what it shows | quick (CPU) | full (GPU) |", "|---|---|---|---|---|"]
    for info in CATALOG:
        exists = (notebooks_dir() / info.file).exists()
        badge = links.badge_markdown(info.file) if exists else ""
        rows.append(f"| {info.number} | {badge} **{info.title}** | {info.shows} | {info.quick} | "
                    f"{info.full} |")
    return "\n".join(rows)


def sync_readme(readme: Path) -> bool:
    """Rewrite the table between the README's markers; True if it changed."""
    text = readme.read_text(encoding="utf-8")
    if README_START not in text or README_END not in text:
        raise ValueError(f"{readme} lacks the markers {README_START!r} … {README_END!r}")
    head, rest = text.split(README_START, 1)
    _, tail = rest.split(README_END, 1)
    new = f"{head}{README_START}\n{readme_table()}\n{README_END}{tail}"
    if new != text:
        readme.write_text(new, encoding="utf-8")
    return new != text


def _tagged(nb, tag: str) -> list:
    return [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]


def sync_notebook(path: Path) -> bool:
    """Rewrite the badge and install cell of one notebook from :mod:`links`; True if changed."""
    nb = nbformat.read(path, as_version=4)
    changed = False
    headers = _tagged(nb, "header")
    installs = _tagged(nb, "colab-install")
    if len(headers) != 1 or len(installs) != 1:
        raise ValueError(f"{path.name}: needs exactly one cell tagged 'header' and one tagged "
                         f"'colab-install'; found {len(headers)} and {len(installs)}")
    lines = headers[0].source.split("\n")
    badge = links.badge_markdown(path.name)
    if lines[0] != badge:
        lines = [badge] + (lines[1:] if lines[0].startswith("[![Open In Colab]") else lines)
        headers[0].source = "\n".join(lines)
        changed = True
    if installs[0].source != links.install_cell_source():
        installs[0].source = links.install_cell_source()
        changed = True
    runtime = _header_with_derivations(path.name, _header_with_runtime(path.name, headers[0].source))
    if runtime != headers[0].source:
        headers[0].source = runtime
        changed = True
    if changed:
        nbformat.write(nb, path)
    return changed


_RUNTIME = re.compile(r"(\*\*Runtime\*\*: about )[^`]*?( in the `quick` profile)")


def _header_with_runtime(name: str, header: str) -> str:
    """The header with its quick runtime taken from ``CATALOG`` (one source for the figure)."""
    info = next((i for i in CATALOG if i.file == name), None)
    if info is None or not _RUNTIME.search(header):
        return header
    return _RUNTIME.sub(lambda m: f"{m.group(1)}{info.quick}{m.group(2)}", header, count=1)


DERIVATIONS = "../docs/derivations.md"


def derivations_line(name: str) -> str:
    """The header's last line: where this chapter's mathematics is derived and checked."""
    return (f"**Derivations**: [section {name[:2]} of docs/derivations.md]({DERIVATIONS}), each one "
            "checked by a test.")


def _header_with_derivations(name: str, header: str) -> str:
    """The header ending with :func:`derivations_line` (replacing an older one)."""
    lines = header.rstrip("\n").split("\n")
    if lines[-1].startswith("**Derivations**"):
        lines = lines[:-1]
        while lines and not lines[-1].strip():
            lines.pop()
    return "\n".join(lines) + "\n\n" + derivations_line(name)


def notebook_problems(path: Path) -> list[str]:
    """What breaks the course template in one notebook (empty list: none)."""
    nb = nbformat.read(path, as_version=4)
    problems = []
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and (c.get("outputs") or c.get("execution_count")):
            problems.append(f"cell {i} has outputs or an execution count (commit without outputs)")
    raw_cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    missing = [i for i, c in enumerate(raw_cells) if not c.get("id")]
    if missing:
        problems.append(f"cells {missing} have no id (nbformat 4.5 requires one; copy a cell's "
                        f"layout or run nbformat.validator.normalize)")
    headers, installs = _tagged(nb, "header"), _tagged(nb, "colab-install")
    if len(headers) != 1 or headers[0].source.split("\n")[0] != links.badge_markdown(path.name):
        problems.append("first line of the 'header' cell is not the canonical Colab badge "
                        "(run: python -m course_utils sync)")
    if len(installs) != 1 or installs[0].source != links.install_cell_source():
        problems.append("the 'colab-install' cell differs from links.install_cell_source() "
                        "(run: python -m course_utils sync)")
    if len(headers) == 1 and _header_with_runtime(path.name, headers[0].source) != headers[0].source:
        problems.append("the header's quick runtime differs from CATALOG "
                        "(run: python -m course_utils sync)")
    if len(headers) == 1 and _header_with_derivations(path.name, headers[0].source) != headers[0].source:
        problems.append("the header does not end with its derivations link "
                        "(run: python -m course_utils sync)")
    code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    if "get_profile(" not in code:
        problems.append("no get_profile() call: sizes must come from the run profile")
    if "claims_table()" not in code:
        problems.append("no claims_table(): every notebook ends with its measured claims")
    checks = code.count("check_")
    if len(_tagged(nb, "exercise")) < 2 or checks < 2:
        problems.append("fewer than 2 exercises (cells tagged 'exercise' with check_ helpers)")
    if len(_tagged(nb, "solution")) < 2:
        problems.append("fewer than 2 reference solutions (cells tagged 'solution')")
    problems += exercise_problems(nb)
    problems += chapter_problems(nb)
    return problems


MAX_CODE_LINES = 30      # a code cell a learner reads: ~25 lines as a rule, never more than this
MAX_CLAIM_NAME = 60      # a claim reads as a line of evidence, not a paragraph
MAX_CELLS = 50           # a chapter a learner finishes in one sitting ...
MAX_MARKDOWN_WORDS = 3000  # ... markdown of every cell, exercises included
MAX_PRINTED_LINE = 100   # JupyterLab wraps longer printed lines, sometimes inside a number
MAX_EVIDENCE_SHARE = 0.5  # ✔/✘/○ and · lines at most half of the other printed lines


def markdown_words(nb) -> int:
    """Words in all markdown cells of a notebook, counted as runs of letters and digits (the
    stricter count: "open-ended" and "0.15" are two words each, LaTeX's names count too)."""
    return sum(len(re.findall(r"\w+", c.source)) for c in nb.cells if c.cell_type == "markdown")


def printed_lines(nb) -> tuple[list[str], list[str]]:
    """The non-empty lines an executed notebook prints (stdout and plain-text displays without a
    richer form): ``(evidence, other)``, evidence being the claim (✔ ✘ ○) and observe (·) lines;
    an unjudged claim's second line ("not judged here: ...", short) belongs to neither."""
    evidence, other = [], []
    for c in nb.cells:
        for o in c.get("outputs", []) if c.cell_type == "code" else []:
            if o.output_type == "stream" and o.name == "stdout":
                text = o.text
            elif o.output_type in ("execute_result", "display_data") and \
                    set(o.data) == {"text/plain"}:
                text = o.data["text/plain"]
            else:
                continue
            for line in text.split("\n"):
                line = line.split("\r")[-1].rstrip()   # a carriage return redraws the line
                if line.startswith("  not judged here:"):  # the second line of a ○ claim
                    continue
                if line.strip():
                    (evidence if line.lstrip()[:1] in "✔✘○·" else other).append(line)
    return evidence, other


def reading_problems(executed) -> list[str]:
    """What gets in a reader's way in an executed notebook: printed lines JupyterLab would wrap,
    and evidence lines (claims, observations) outnumbering half of what the cells teach."""
    evidence, other = printed_lines(executed)
    problems = [f"printed line of {len(line)} characters (at most {MAX_PRINTED_LINE}): {line!r}"
                for line in evidence + other if len(line) > MAX_PRINTED_LINE]
    if len(evidence) > MAX_EVIDENCE_SHARE * len(other):
        problems.append(f"{len(evidence)} claim and observe lines against {len(other)} other "
                        f"printed lines (at most {MAX_EVIDENCE_SHARE:.0%} of them: make sanity "
                        "checks quiet, and print no number twice)")
    return problems


def claim_names(code: str) -> list[str]:
    """The literal names of the ``claim(...)``/``observe(...)`` calls in ``code``; an f-string's
    ``{expression}`` counts as four characters."""
    names = re.findall(r"\b(?:claim|observe)\(\s*f?(\"[^\"\n]*\"|'[^'\n]*')", code)
    return [re.sub(r"\{[^{}]*\}", "{..}", n[1:-1]) for n in names]


def chapter_problems(nb) -> list[str]:
    """What keeps a notebook from reading like a chapter: more than 50 cells or 3,000 markdown
    words, long code cells, long claim names, no "What to remember" before the exercises, no
    open-ended experiment."""
    problems = []
    if len(nb.cells) > MAX_CELLS:
        problems.append(f"{len(nb.cells)} cells (at most {MAX_CELLS}: one section's story)")
    if markdown_words(nb) > MAX_MARKDOWN_WORDS:
        problems.append(f"{markdown_words(nb)} markdown words (at most {MAX_MARKDOWN_WORDS}, "
                        "exercises included)")
    for i, c in enumerate(nb.cells):
        if c.cell_type == "code" and "colab-install" not in c.metadata.get("tags", []):
            n = len(c.source.rstrip("\n").splitlines())
            if n > MAX_CODE_LINES:
                problems.append(f"cell {i}: {n} lines of code (at most {MAX_CODE_LINES}; move "
                                "plumbing into course_utils or split the cell)")
            for name in claim_names(c.source):
                if len(name) > MAX_CLAIM_NAME:
                    problems.append(f"cell {i}: claim name over {MAX_CLAIM_NAME} characters: "
                                    f"{name!r}")
    md = [(i, c.source) for i, c in enumerate(nb.cells) if c.cell_type == "markdown"]
    remember = [i for i, src in md if src.lstrip().startswith("## What to remember")]
    exercises = [i for i, src in md if re.search(r"^## Exercises", src, flags=re.M)]
    if not remember or not exercises or remember[0] > exercises[0]:
        problems.append("no markdown cell starting '## What to remember' before '## Exercises'")
    if not any(src.lstrip().startswith("**Experiment (open-ended).**") for i, src in md
               if exercises and i > exercises[0]):
        problems.append("no '**Experiment (open-ended).**' markdown cell in the exercises")
    return problems
